//! DescribeAccountAttributes: the account's platform facts. Every Cirrus account is VPC-only and
//! has a default VPC, as AWS accounts made since 2013 do.
//!
//! LIMITATION: the limit attributes EC2 also lists (`max-instances`, `max-elastic-ips`, ...) are
//! left out until resource limits exist, rather than answered with figures nothing enforces.

use super::{answer, Request};
use crate::error::Ec2Error;
use crate::query::Params;
use crate::{Caller, Ec2Port};

/// The attributes Cirrus answers, in the order it lists them.
const ATTRIBUTES: &[&str] = &["supported-platforms", "default-vpc"];

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
            if !ATTRIBUTES.contains(&name.as_str()) {
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

/// Renders the attributes asked for (every one when none is named); `default_vpc` is the
/// account's default VPC id, or `none`.
pub fn render(req: &DescribeAccountAttributes, default_vpc: &str, request_id: &str) -> String {
    let chosen: Vec<(&str, &str)> = ATTRIBUTES
        .iter()
        .filter(|name| {
            req.attribute_names.is_empty() || req.attribute_names.iter().any(|n| n == *name)
        })
        .map(|&name| match name {
            "supported-platforms" => (name, "VPC"),
            _ => (name, default_vpc),
        })
        .collect();
    answer(DescribeAccountAttributes::NAME, request_id, |w| {
        w.list("accountAttributeSet", &chosen, |w, (name, value)| {
            w.text_element("attributeName", name);
            w.list("attributeValueSet", std::slice::from_ref(value), |w, v| {
                w.text_element("attributeValue", v);
            });
        });
    })
}

pub async fn serve<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeAccountAttributes,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let asks_vpc =
        req.attribute_names.is_empty() || req.attribute_names.iter().any(|n| n == "default-vpc");
    let default_vpc = if asks_vpc {
        port.vpcs(caller)
            .await?
            .into_iter()
            .find(|v| v.is_default)
            .map(|v| v.vpc_id)
    } else {
        None
    };
    Ok(render(
        &req,
        default_vpc.as_deref().unwrap_or("none"),
        request_id,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;
    use crate::actions::decode;

    #[test]
    fn attributes() {
        let all: DescribeAccountAttributes = decode(Params::from_pairs(&[])).unwrap();
        let text = render(&all, "vpc-0123456789abcdef0", "r");
        assert!(text.contains(
            "<accountAttributeSet><item><attributeName>supported-platforms</attributeName>\
             <attributeValueSet><item><attributeValue>VPC</attributeValue></item>\
             </attributeValueSet></item><item><attributeName>default-vpc</attributeName>"
        ));
        let one: DescribeAccountAttributes =
            decode(Params::from_pairs(&[("AttributeName.1", "default-vpc")])).unwrap();
        let text = render(&one, "vpc-0123456789abcdef0", "r");
        assert!(!text.contains("supported-platforms"));
        assert!(text.contains("<attributeValue>vpc-0123456789abcdef0</attributeValue>"));
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
