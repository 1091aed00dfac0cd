//! DescribeRegions: the cloud's one region, with the server's URL as its endpoint.

use std::borrow::Cow;

use super::{answer, Request};
use crate::error::Ec2Error;
use crate::filter::{self, Filter, FilterNames};
use crate::query::Params;
use crate::types::Region;
use crate::Ec2Port;

const OPT_IN: &str = "opt-in-not-required";

const FILTERS: FilterNames = FilterNames {
    names: &["endpoint", "opt-in-status", "region-name"],
    tags: false,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeRegions {
    pub region_names: Vec<String>,
    /// Also opted-out regions; every region of a Cirrus cloud is opted in, so it changes nothing.
    pub all_regions: bool,
    pub filters: Vec<Filter>,
    pub dry_run: bool,
}

impl Request for DescribeRegions {
    const NAME: &'static str = "DescribeRegions";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        FILTERS.check(&filters)?;
        Ok(Self {
            region_names: p.take_list("RegionName")?,
            all_regions: p.take_bool("AllRegions")?.unwrap_or(false),
            filters,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn values<'a>(r: &'a Region, name: &str) -> Vec<Cow<'a, str>> {
    match name {
        "endpoint" => vec![Cow::Borrowed(r.endpoint.as_str())],
        "opt-in-status" => vec![Cow::Borrowed(OPT_IN)],
        "region-name" => vec![Cow::Borrowed(r.name.as_str())],
        _ => vec![],
    }
}

/// Picks and filters the regions; a named region that does not exist is an error.
pub fn select(req: &DescribeRegions, regions: Vec<Region>) -> Result<Vec<Region>, Ec2Error> {
    let missing: Vec<&str> = req
        .region_names
        .iter()
        .filter(|n| !regions.iter().any(|r| &r.name == *n))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Ec2Error::invalid_value(format!(
            "Invalid region names: {}; this cloud has the region {}.",
            missing.join(", "),
            regions
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let named: Vec<Region> = regions
        .into_iter()
        .filter(|r| req.region_names.is_empty() || req.region_names.contains(&r.name))
        .collect();
    Ok(filter::apply(&req.filters, named, values))
}

pub fn render(regions: &[Region], request_id: &str) -> String {
    answer(DescribeRegions::NAME, request_id, |w| {
        w.list("regionInfo", regions, |w, r| {
            w.text_element("regionName", &r.name);
            w.text_element("regionEndpoint", &r.endpoint);
            w.text_element("optInStatus", OPT_IN);
        });
    })
}

pub async fn serve<P: Ec2Port + ?Sized>(
    port: &P,
    req: DescribeRegions,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let region = port.region().await?;
    let regions = select(&req, vec![region])?;
    Ok(render(&regions, request_id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;
    use crate::actions::decode;
    use crate::error::Code;

    fn region() -> Region {
        Region {
            name: "us-east-1".into(),
            endpoint: "http://127.0.0.1:8080".into(),
        }
    }

    #[test]
    fn selection() {
        let cases: &[(&[(&str, &str)], usize)] = &[
            (&[], 1),
            (&[("RegionName.1", "us-east-1")], 1),
            (
                &[
                    ("Filter.1.Name", "region-name"),
                    ("Filter.1.Value.1", "us-*"),
                ],
                1,
            ),
            (
                &[
                    ("Filter.1.Name", "region-name"),
                    ("Filter.1.Value.1", "eu-*"),
                ],
                0,
            ),
            (
                &[
                    ("Filter.1.Name", "opt-in-status"),
                    ("Filter.1.Value.1", OPT_IN),
                ],
                1,
            ),
            (&[("AllRegions", "true")], 1),
        ];
        for (pairs, want) in cases {
            let req: DescribeRegions = decode(Params::from_pairs(pairs)).unwrap();
            assert_eq!(
                select(&req, vec![region()]).unwrap().len(),
                *want,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn errors() {
        let cases: &[(&[(&str, &str)], Code)] = &[
            (&[("RegionName.1", "mars-1")], Code::InvalidParameterValue),
            (
                &[("Filter.1.Name", "zone"), ("Filter.1.Value.1", "x")],
                Code::InvalidParameterValue,
            ),
            (&[("Bogus", "1")], Code::UnknownParameter),
            (&[("RegionName", "us-east-1")], Code::InvalidParameter),
            (&[("DryRun", "true")], Code::DryRunOperation),
        ];
        for (pairs, code) in cases {
            let got = decode::<DescribeRegions>(Params::from_pairs(pairs))
                .and_then(|req| select(&req, vec![region()]));
            assert_eq!(got.unwrap_err().code, *code, "{pairs:?}");
        }
    }

    #[test]
    fn answer_shape() {
        assert_eq!(
            render(&[region()], "rid"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRegionsResponse xmlns=\"http://\
             ec2.amazonaws.com/doc/2016-11-15/\"><requestId>rid</requestId><regionInfo><item>\
             <regionName>us-east-1</regionName><regionEndpoint>http://127.0.0.1:8080\
             </regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item></regionInfo>\
             </DescribeRegionsResponse>"
        );
    }
}
