//! DescribeAvailabilityZones: the cloud's zones, as availability zones of its region.

use std::borrow::Cow;

use super::{answer, Request};
use crate::error::Ec2Error;
use crate::filter::{self, Filter, FilterNames};
use crate::query::Params;
use crate::types::AvailabilityZone;
use crate::Ec2Port;

const OPT_IN: &str = "opt-in-not-required";
const ZONE_TYPE: &str = "availability-zone";

const FILTERS: FilterNames = FilterNames {
    names: &[
        "group-name",
        "message",
        "network-border-group",
        "opt-in-status",
        "region-name",
        "state",
        "zone-id",
        "zone-name",
        "zone-type",
    ],
    tags: false,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeAvailabilityZones {
    pub zone_names: Vec<String>,
    pub zone_ids: Vec<String>,
    /// Also Local and Wavelength Zones and opted-out zones; Cirrus has none of those.
    pub all_zones: bool,
    pub filters: Vec<Filter>,
    pub dry_run: bool,
}

impl Request for DescribeAvailabilityZones {
    const NAME: &'static str = "DescribeAvailabilityZones";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        FILTERS.check(&filters)?;
        Ok(Self {
            zone_names: p.take_list("ZoneName")?,
            zone_ids: p.take_list("ZoneId")?,
            all_zones: p.take_bool("AllAvailabilityZones")?.unwrap_or(false),
            filters,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn state(z: &AvailabilityZone) -> &'static str {
    if z.available {
        "available"
    } else {
        "unavailable"
    }
}

fn values<'a>(z: &'a AvailabilityZone, name: &str) -> Vec<Cow<'a, str>> {
    let one = |s: &'a str| vec![Cow::Borrowed(s)];
    match name {
        "group-name" | "network-border-group" | "region-name" => one(&z.region),
        "opt-in-status" => one(OPT_IN),
        "state" => one(state(z)),
        "zone-id" => one(&z.zone_id),
        "zone-name" => one(&z.name),
        "zone-type" => one(ZONE_TYPE),
        // Zones carry no messages.
        _ => vec![],
    }
}

/// Picks and filters the zones; a named zone that does not exist is an error.
pub fn select(
    req: &DescribeAvailabilityZones,
    zones: Vec<AvailabilityZone>,
) -> Result<Vec<AvailabilityZone>, Ec2Error> {
    for name in &req.zone_names {
        if !zones.iter().any(|z| &z.name == name) {
            return Err(Ec2Error::invalid_value(format!(
                "The availability zone '{name}' does not exist in this cloud."
            )));
        }
    }
    for id in &req.zone_ids {
        if !zones.iter().any(|z| &z.zone_id == id) {
            return Err(Ec2Error::invalid_value(format!(
                "The availability zone id '{id}' does not exist in this cloud."
            )));
        }
    }
    let named: Vec<AvailabilityZone> = zones
        .into_iter()
        .filter(|z| {
            let by_name = req.zone_names.is_empty() || req.zone_names.contains(&z.name);
            let by_id = req.zone_ids.is_empty() || req.zone_ids.contains(&z.zone_id);
            by_name && by_id
        })
        .collect();
    Ok(filter::apply(&req.filters, named, values))
}

pub fn render(zones: &[AvailabilityZone], request_id: &str) -> String {
    answer(DescribeAvailabilityZones::NAME, request_id, |w| {
        w.list("availabilityZoneInfo", zones, |w, z| {
            w.text_element("zoneName", &z.name);
            w.text_element("zoneId", &z.zone_id);
            w.text_element("zoneState", state(z));
            w.text_element("regionName", &z.region);
            w.text_element("groupName", &z.region);
            w.text_element("networkBorderGroup", &z.region);
            w.text_element("optInStatus", OPT_IN);
            w.text_element("zoneType", ZONE_TYPE);
            w.empty("messageSet");
        });
    })
}

pub async fn serve<P: Ec2Port + ?Sized>(
    port: &P,
    req: DescribeAvailabilityZones,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let zones = port.availability_zones().await?;
    let zones = select(&req, zones)?;
    Ok(render(&zones, request_id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;
    use crate::actions::decode;
    use crate::error::Code;

    fn zones() -> Vec<AvailabilityZone> {
        let z = |name: &str, id: &str, available| AvailabilityZone {
            name: name.into(),
            zone_id: id.into(),
            region: "us-east-1".into(),
            available,
        };
        vec![
            z("us-east-1a", "use1-az1", true),
            z("us-east-1b", "use1-az2", false),
        ]
    }

    #[test]
    fn selection() {
        let cases: &[(&[(&str, &str)], &[&str])] = &[
            (&[], &["us-east-1a", "us-east-1b"]),
            (&[("ZoneName.1", "us-east-1b")], &["us-east-1b"]),
            (&[("ZoneId.1", "use1-az1")], &["us-east-1a"]),
            (
                &[
                    ("Filter.1.Name", "state"),
                    ("Filter.1.Value.1", "available"),
                ],
                &["us-east-1a"],
            ),
            (
                &[("Filter.1.Name", "zone-name"), ("Filter.1.Value.1", "*b")],
                &["us-east-1b"],
            ),
            (
                &[
                    ("Filter.1.Name", "region-name"),
                    ("Filter.1.Value.1", "eu-west-1"),
                ],
                &[],
            ),
            (
                &[
                    ("Filter.1.Name", "region-name"),
                    ("Filter.1.Value.1", "us-east-1"),
                    ("Filter.2.Name", "state"),
                    ("Filter.2.Value.1", "unavailable"),
                ],
                &["us-east-1b"],
            ),
        ];
        for (pairs, want) in cases {
            let req: DescribeAvailabilityZones = decode(Params::from_pairs(pairs)).unwrap();
            let got: Vec<String> = select(&req, zones())
                .unwrap()
                .into_iter()
                .map(|z| z.name)
                .collect();
            assert_eq!(got, *want, "{pairs:?}");
        }
    }

    #[test]
    fn errors() {
        let cases: &[&[(&str, &str)]] = &[
            &[("ZoneName.1", "us-east-1z")],
            &[("ZoneId.1", "use1-az9")],
            &[
                ("Filter.1.Name", "availability-zone"),
                ("Filter.1.Value.1", "x"),
            ],
        ];
        for pairs in cases {
            let got = decode::<DescribeAvailabilityZones>(Params::from_pairs(pairs))
                .and_then(|req| select(&req, zones()));
            assert_eq!(
                got.unwrap_err().code,
                Code::InvalidParameterValue,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn answer_shape() {
        let text = render(&zones()[..1], "rid");
        assert!(text.contains(
            "<availabilityZoneInfo><item><zoneName>us-east-1a</zoneName><zoneId>use1-az1</zoneId>\
             <zoneState>available</zoneState><regionName>us-east-1</regionName>"
        ));
        assert!(text.ends_with(
            "<messageSet/></item></availabilityZoneInfo></DescribeAvailabilityZonesResponse>"
        ));
    }
}
