//! DescribeAccountAttributes: the account's platform facts. Every Cirrus account is VPC-only.
//!
//! LIMITATION: `default-vpc` is `none` until default VPCs exist; the limit attributes EC2 also
//! lists (`max-instances`, `max-elastic-ips`, ...) are left out until resource limits exist,
//! rather than answered with figures nothing enforces.

use super::{answer, Request};
use crate::error::Ec2Error;
use crate::query::Params;

/// The attributes Cirrus answers, with their values.
const ATTRIBUTES: &[(&str, &[&str])] = &[
    ("supported-platforms", &["VPC"]),
    ("default-vpc", &["none"]),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeAccountAttributes {
    pub attribute_names: Vec<String>,
    pub dry_run: bool,
}

impl Request for DescribeAccountAttributes {
    const NAME: &'static str = "DescribeAccountAttributes";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let attribute_names = p.take_list("AttributeName")?;
        for name in &attribute_names {
            if !ATTRIBUTES.iter().any(|(a, _)| a == name) {
                return Err(Ec2Error::invalid_value(format!(
                    "The attribute name '{name}' is not valid; use supported-platforms or \
                     default-vpc."
                )));
            }
        }
        Ok(Self {
            attribute_names,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub fn render(req: &DescribeAccountAttributes, request_id: &str) -> String {
    let chosen: Vec<&(&str, &[&str])> = ATTRIBUTES
        .iter()
        .filter(|(name, _)| {
            req.attribute_names.is_empty() || req.attribute_names.iter().any(|n| n == name)
        })
        .collect();
    answer(DescribeAccountAttributes::NAME, request_id, |w| {
        w.list("accountAttributeSet", &chosen, |w, (name, values)| {
            w.text_element("attributeName", name);
            w.list("attributeValueSet", values, |w, v| {
                w.text_element("attributeValue", v);
            });
        });
    })
}

pub fn serve(req: DescribeAccountAttributes, request_id: &str) -> Result<String, Ec2Error> {
    Ok(render(&req, request_id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;
    use crate::actions::decode;

    #[test]
    fn attributes() {
        let all: DescribeAccountAttributes = decode(Params::from_pairs(&[])).unwrap();
        let text = render(&all, "r");
        assert!(text.contains(
            "<accountAttributeSet><item><attributeName>supported-platforms</attributeName>\
             <attributeValueSet><item><attributeValue>VPC</attributeValue></item>\
             </attributeValueSet></item><item><attributeName>default-vpc</attributeName>"
        ));
        let one: DescribeAccountAttributes =
            decode(Params::from_pairs(&[("AttributeName.1", "default-vpc")])).unwrap();
        let text = render(&one, "r");
        assert!(!text.contains("supported-platforms"));
        assert!(text.contains("<attributeValue>none</attributeValue>"));
        let bad = decode::<DescribeAccountAttributes>(Params::from_pairs(&[(
            "AttributeName.1",
            "max-instances",
        )]));
        assert_eq!(
            bad.unwrap_err().code,
            crate::error::Code::InvalidParameterValue
        );
    }
}
