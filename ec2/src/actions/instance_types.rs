//! DescribeInstanceTypes: the service offerings, as EC2 instance types (vCPUs, memory, burstable
//! flag, x86_64, Nitro-style hypervisor). Paginated (MaxResults 5..100).
//!
//! LIMITATION: every type reports one thread per core, EBS-only storage and no GPUs: that is
//! what the simulator and the QEMU driver give an instance today.

use std::borrow::Cow;

use super::{answer, Request};
use crate::error::{Code, Ec2Error};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::InstanceType;
use crate::{Caller, Ec2Port};

const ARCHITECTURE: &str = "x86_64";
const HYPERVISOR: &str = "nitro";

const FILTERS: FilterNames = FilterNames {
    names: &[
        "bare-metal",
        "burstable-performance-supported",
        "current-generation",
        "free-tier-eligible",
        "hibernation-supported",
        "hypervisor",
        "instance-storage-supported",
        "instance-type",
        "memory-info.size-in-mib",
        "processor-info.supported-architecture",
        "supported-root-device-type",
        "supported-usage-class",
        "supported-virtualization-type",
        "vcpu-info.default-cores",
        "vcpu-info.default-threads-per-core",
        "vcpu-info.default-vcpus",
    ],
    tags: false,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInstanceTypes {
    pub instance_types: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

impl Request for DescribeInstanceTypes {
    const NAME: &'static str = "DescribeInstanceTypes";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        FILTERS.check(&filters)?;
        let instance_types = p.take_list("InstanceType")?;
        if instance_types.len() > 100 {
            return Err(Ec2Error::invalid_value(format!(
                "{} instance types are named; name at most 100.",
                instance_types.len()
            )));
        }
        // Accepted and meaningless here: every offering is offered in the cloud's region.
        let _include_unsupported = p.take_bool("IncludeUnsupportedInRegion")?;
        Ok(Self {
            instance_types,
            filters,
            page: PageRequest {
                max_results: p.take_int("MaxResults", 5, 100)?.map(|n| n as usize),
                next_token: p.take("NextToken"),
            },
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn flag(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn values<'a>(t: &'a InstanceType, name: &str) -> Vec<Cow<'a, str>> {
    let one = |s: &'a str| vec![Cow::Borrowed(s)];
    match name {
        "instance-type" => one(&t.name),
        "burstable-performance-supported" => one(flag(t.burstable)),
        "current-generation" => one("true"),
        "bare-metal" | "free-tier-eligible" | "hibernation-supported" => one("false"),
        "instance-storage-supported" => one("false"),
        "hypervisor" => one(HYPERVISOR),
        "memory-info.size-in-mib" => vec![Cow::Owned(t.memory_mib.to_string())],
        "processor-info.supported-architecture" => one(ARCHITECTURE),
        "supported-root-device-type" => one("ebs"),
        "supported-usage-class" => one("on-demand"),
        "supported-virtualization-type" => one("hvm"),
        "vcpu-info.default-cores" | "vcpu-info.default-vcpus" => {
            vec![Cow::Owned(t.vcpus.to_string())]
        }
        "vcpu-info.default-threads-per-core" => one("1"),
        _ => vec![],
    }
}

/// Picks, filters and pages the types; a named type that does not exist is an error.
pub fn select(
    req: &DescribeInstanceTypes,
    types: Vec<InstanceType>,
) -> Result<(Vec<InstanceType>, Option<String>), Ec2Error> {
    let missing: Vec<&str> = req
        .instance_types
        .iter()
        .filter(|n| !types.iter().any(|t| &t.name == *n))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Ec2Error::new(
            Code::InvalidInstanceType,
            format!(
                "The following supplied instance types do not exist: [{}]",
                missing.join(", ")
            ),
        ));
    }
    let named: Vec<InstanceType> = types
        .into_iter()
        .filter(|t| req.instance_types.is_empty() || req.instance_types.contains(&t.name))
        .collect();
    let filtered = filter::apply(&req.filters, named, values);
    req.page.cut(DescribeInstanceTypes::NAME, filtered)
}

pub fn render(types: &[InstanceType], next_token: Option<&str>, request_id: &str) -> String {
    answer(DescribeInstanceTypes::NAME, request_id, |w| {
        w.list("instanceTypeSet", types, |w, t| {
            w.text_element("instanceType", &t.name);
            w.bool_element("currentGeneration", true);
            w.bool_element("freeTierEligible", false);
            w.string_list("supportedUsageClasses", &["on-demand"]);
            w.string_list("supportedRootDeviceTypes", &["ebs"]);
            w.string_list("supportedVirtualizationTypes", &["hvm"]);
            w.bool_element("bareMetal", false);
            w.text_element("hypervisor", HYPERVISOR);
            w.open("processorInfo");
            w.string_list("supportedArchitectures", &[ARCHITECTURE]);
            w.float_element("sustainedClockSpeedInGhz", t.clock_ghz);
            w.close("processorInfo");
            w.open("vCpuInfo");
            w.int_element("defaultVCpus", t.vcpus);
            w.int_element("defaultCores", t.vcpus);
            w.int_element("defaultThreadsPerCore", 1);
            w.close("vCpuInfo");
            w.open("memoryInfo");
            w.int_element("sizeInMiB", t.memory_mib);
            w.close("memoryInfo");
            w.bool_element("instanceStorageSupported", false);
            w.open("ebsInfo");
            w.text_element("ebsOptimizedSupport", "default");
            w.text_element("encryptionSupport", "unsupported");
            w.text_element("nvmeSupport", "unsupported");
            w.close("ebsInfo");
            w.open("networkInfo");
            w.text_element("networkPerformance", "Up to 5 Gigabit");
            w.int_element("maximumNetworkInterfaces", 1);
            w.int_element("ipv4AddressesPerInterface", 1);
            w.int_element("ipv6AddressesPerInterface", 0);
            w.bool_element("ipv6Supported", false);
            w.text_element("enaSupport", "supported");
            w.bool_element("efaSupported", false);
            w.close("networkInfo");
            w.open("placementGroupInfo");
            w.empty("supportedStrategies");
            w.close("placementGroupInfo");
            w.bool_element("hibernationSupported", false);
            w.bool_element("burstablePerformanceSupported", t.burstable);
            w.bool_element("dedicatedHostsSupported", false);
            w.bool_element("autoRecoverySupported", false);
            w.string_list("supportedBootModes", &["legacy-bios"]);
        });
        w.opt_text("nextToken", next_token);
    })
}

pub async fn serve<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeInstanceTypes,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let types = port.instance_types(caller).await?;
    let (page, next) = select(&req, types)?;
    Ok(render(&page, next.as_deref(), request_id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;
    use crate::actions::decode;

    fn types() -> Vec<InstanceType> {
        let t = |name: &str, vcpus, memory_mib, burstable| InstanceType {
            name: name.into(),
            vcpus,
            memory_mib,
            burstable,
            clock_ghz: 2.0,
        };
        vec![
            t("t3.micro", 2, 1024, true),
            t("t3.small", 2, 2048, true),
            t("m5.large", 2, 8192, false),
            t("m5.xlarge", 4, 16384, false),
            t("c5.large", 2, 4096, false),
            t("r5.large", 2, 16384, false),
        ]
    }

    fn names(pairs: &[(&str, &str)]) -> Vec<String> {
        let req: DescribeInstanceTypes = decode(Params::from_pairs(pairs)).unwrap();
        select(&req, types())
            .unwrap()
            .0
            .into_iter()
            .map(|t| t.name)
            .collect()
    }

    #[test]
    fn selection() {
        let cases: &[(&[(&str, &str)], &[&str])] = &[
            (&[("InstanceType.1", "m5.large")], &["m5.large"]),
            (
                &[
                    ("InstanceType.1", "c5.large"),
                    ("InstanceType.2", "t3.micro"),
                ],
                &["t3.micro", "c5.large"],
            ),
            (
                &[
                    ("Filter.1.Name", "instance-type"),
                    ("Filter.1.Value.1", "m5.*"),
                ],
                &["m5.large", "m5.xlarge"],
            ),
            (
                &[
                    ("Filter.1.Name", "burstable-performance-supported"),
                    ("Filter.1.Value.1", "true"),
                ],
                &["t3.micro", "t3.small"],
            ),
            (
                &[
                    ("Filter.1.Name", "vcpu-info.default-vcpus"),
                    ("Filter.1.Value.1", "4"),
                ],
                &["m5.xlarge"],
            ),
            (
                &[
                    ("Filter.1.Name", "memory-info.size-in-mib"),
                    ("Filter.1.Value.1", "16384"),
                ],
                &["m5.xlarge", "r5.large"],
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(names(pairs), *want, "{pairs:?}");
        }
    }

    #[test]
    fn unknown_type_and_filter() {
        let req: DescribeInstanceTypes =
            decode(Params::from_pairs(&[("InstanceType.1", "p4d.24xlarge")])).unwrap();
        let e = select(&req, types()).unwrap_err();
        assert_eq!(e.code, Code::InvalidInstanceType);
        assert!(e.message.contains("p4d.24xlarge"));
        let e = decode::<DescribeInstanceTypes>(Params::from_pairs(&[
            ("Filter.1.Name", "gpu-info.gpus"),
            ("Filter.1.Value.1", "1"),
        ]))
        .unwrap_err();
        assert_eq!(e.code, Code::InvalidParameterValue);
        let e = decode::<DescribeInstanceTypes>(Params::from_pairs(&[("MaxResults", "4")]))
            .unwrap_err();
        assert_eq!(e.code, Code::InvalidParameterValue);
    }

    #[test]
    fn pages() {
        let req: DescribeInstanceTypes =
            decode(Params::from_pairs(&[("MaxResults", "5")])).unwrap();
        let (first, token) = select(&req, types()).unwrap();
        assert_eq!(first.len(), 5);
        let token = token.unwrap();
        let req: DescribeInstanceTypes = decode(Params::from_pairs(&[
            ("MaxResults", "5"),
            ("NextToken", token.as_str()),
        ]))
        .unwrap();
        let (second, token) = select(&req, types()).unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(token, None);
        let text = render(&second, None, "r");
        assert!(!text.contains("nextToken"));
    }

    #[test]
    fn answer_shape() {
        let text = render(&types()[..1], Some("tok"), "r");
        for part in [
            "<instanceTypeSet><item><instanceType>t3.micro</instanceType>",
            "<hypervisor>nitro</hypervisor>",
            "<processorInfo><supportedArchitectures><item>x86_64</item></supportedArchitectures>",
            "<vCpuInfo><defaultVCpus>2</defaultVCpus>",
            "<memoryInfo><sizeInMiB>1024</sizeInMiB></memoryInfo>",
            "<burstablePerformanceSupported>true</burstablePerformanceSupported>",
            "</instanceTypeSet><nextToken>tok</nextToken></DescribeInstanceTypesResponse>",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
    }
}
