//! DescribeInstances: the caller's instances, grouped into reservations. `InstanceId.N`,
//! filters, and pagination over reservations (MaxResults 5..1000, not together with
//! `InstanceId.N`).
//! Each instance's `blockDeviceMapping` lists its volumes (root and attached).

use std::borrow::Cow;

use super::{answer, Request};
use crate::error::{Code, Ec2Error, Resource};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::{
    BlockDevice, GroupRef, Instance, MetadataOptions, NetworkInterface, ReservationCursor,
};
use crate::xml;
use crate::{Caller, Ec2Port};

const ARCHITECTURE: &str = "x86_64";
const HYPERVISOR: &str = "xen";

const FILTERS: FilterNames = FilterNames {
    names: &[
        "architecture",
        "availability-zone",
        "client-token",
        "group-id",
        "group-name",
        "hypervisor",
        "image-id",
        "instance-id",
        "instance.group-id",
        "instance.group-name",
        "instance-state-code",
        "instance-state-name",
        "instance-type",
        "key-name",
        "launch-time",
        "network-interface.network-interface-id",
        "owner-id",
        "placement-group-name",
        "private-dns-name",
        "private-ip-address",
        "reservation-id",
        "root-device-name",
        "root-device-type",
        "subnet-id",
        "tenancy",
        "virtualization-type",
        "vpc-id",
    ],
    tags: true,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInstances {
    pub instance_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

/// `i-` and 8 or 17 lowercase hex digits.
pub fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl Request for DescribeInstances {
    const NAME: &'static str = "DescribeInstances";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        FILTERS.check(&filters)?;
        let instance_ids = p.take_list("InstanceId")?;
        if let Some(bad) = instance_ids.iter().find(|id| !is_instance_id(id)) {
            return Err(Ec2Error::new(
                Code::Malformed(Resource::Instance),
                format!("Invalid id: \"{bad}\" (expecting \"i-...\")"),
            ));
        }
        // Cirrus has no managed instances, so this changes nothing.
        let _include_managed = p.take_bool("IncludeManagedResources")?;
        let page = PageRequest {
            max_results: p.take_int("MaxResults", 5, 1000)?.map(|n| n as usize),
            next_token: p.take("NextToken"),
        };
        if page.max_results.is_some() && !instance_ids.is_empty() {
            return Err(Ec2Error::new(
                Code::InvalidParameterCombination,
                "The parameter instancesSet cannot be used with the parameter maxResults",
            ));
        }
        Ok(Self {
            instance_ids,
            filters,
            page,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

/// The instances of one launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub reservation_id: String,
    pub owner_id: String,
    pub instances: Vec<Instance>,
}

fn private_dns_name(i: &Instance) -> Option<String> {
    i.private_ip.as_deref().map(dns_of)
}

fn values<'a>(i: &'a Instance, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(tags) = filter::tag_values(&i.tags, name) {
        return tags;
    }
    let one = |s: &'a str| vec![Cow::Borrowed(s)];
    match name {
        "architecture" => one(ARCHITECTURE),
        "availability-zone" => one(&i.availability_zone),
        "hypervisor" => one(HYPERVISOR),
        "image-id" => one(&i.image_id),
        "instance-id" => one(&i.instance_id),
        "instance-state-code" => vec![Cow::Owned(i.state.code().to_string())],
        "instance-state-name" => one(i.state.name()),
        "instance-type" => one(&i.instance_type),
        "key-name" => i.key_name.as_deref().map(one).unwrap_or_default(),
        "launch-time" => vec![Cow::Owned(xml::timestamp(xml::timestamp_ms(i.launch_ms)))],
        "owner-id" => one(&i.owner_id),
        "private-dns-name" => private_dns_name(i).map(Cow::Owned).into_iter().collect(),
        "private-ip-address" => i.private_ip.as_deref().map(one).unwrap_or_default(),
        "reservation-id" => one(&i.reservation_id),
        "root-device-name" => one(&i.root_device_name),
        "root-device-type" => one("ebs"),
        "tenancy" => one("default"),
        "virtualization-type" => one("hvm"),
        "subnet-id" => i.subnet_id.as_deref().map(one).unwrap_or_default(),
        "vpc-id" => i.vpc_id.as_deref().map(one).unwrap_or_default(),
        "instance.group-id" | "group-id" => groups(i)
            .map(|g| Cow::Borrowed(g.group_id.as_str()))
            .collect(),
        "instance.group-name" | "group-name" => groups(i)
            .map(|g| Cow::Borrowed(g.group_name.as_str()))
            .collect(),
        "network-interface.network-interface-id" => i
            .interfaces
            .iter()
            .map(|n| Cow::Borrowed(n.interface_id.as_str()))
            .collect(),
        "client-token" => i.client_token.as_deref().map(one).unwrap_or_default(),
        // No placement groups.
        _ => vec![],
    }
}

/// The groups of an instance's primary interface.
fn groups(i: &Instance) -> impl Iterator<Item = &GroupRef> {
    i.interfaces.iter().take(1).flat_map(|n| n.groups.iter())
}

fn write_groups(w: &mut xml::Writer, groups: &[GroupRef]) {
    w.list("groupSet", groups, |w, g| {
        w.text_element("groupId", &g.group_id);
        w.text_element("groupName", &g.group_name);
    });
}

fn write_interface(w: &mut xml::Writer, owner: &str, launch_ms: i64, n: &NetworkInterface) {
    w.text_element("networkInterfaceId", &n.interface_id);
    w.text_element("subnetId", &n.subnet_id);
    w.text_element("vpcId", &n.vpc_id);
    w.empty("description");
    w.text_element("ownerId", owner);
    w.text_element("status", "in-use");
    w.text_element("macAddress", &n.mac_address);
    w.text_element("privateIpAddress", &n.private_ip);
    w.text_element("privateDnsName", &dns_of(&n.private_ip));
    w.bool_element("sourceDestCheck", n.source_dest_check);
    write_groups(w, &n.groups);
    w.open("attachment");
    w.text_element(
        "attachmentId",
        &format!("eni-attach-{}", &n.interface_id[4..]),
    );
    w.int_element("deviceIndex", n.device_index);
    w.text_element("status", "attached");
    w.time_element("attachTime", xml::timestamp_ms(launch_ms));
    w.bool_element("deleteOnTermination", true);
    w.int_element("networkCardIndex", 0);
    w.close("attachment");
    if let Some(ip) = &n.public_ip {
        w.open("association");
        w.text_element("publicIp", ip);
        w.empty("publicDnsName");
        w.text_element("ipOwnerId", "amazon");
        w.close("association");
    }
    w.open("privateIpAddressesSet");
    w.open("item");
    w.text_element("privateIpAddress", &n.private_ip);
    w.text_element("privateDnsName", &dns_of(&n.private_ip));
    w.bool_element("primary", true);
    if let Some(ip) = &n.public_ip {
        w.open("association");
        w.text_element("publicIp", ip);
        w.empty("publicDnsName");
        w.text_element("ipOwnerId", "amazon");
        w.close("association");
    }
    w.close("item");
    w.close("privateIpAddressesSet");
    w.empty("ipv6AddressesSet");
    w.text_element("interfaceType", "interface");
}

fn dns_of(ip: &str) -> String {
    format!("ip-{}.ec2.internal", ip.replace('.', "-"))
}

/// Groups instances into their reservations, keeping the order of first appearance.
pub fn reservations(instances: Vec<Instance>) -> Vec<Reservation> {
    let mut out: Vec<Reservation> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for i in instances {
        match index.get(&i.reservation_id) {
            Some(&n) => out[n].instances.push(i),
            None => {
                index.insert(i.reservation_id.clone(), out.len());
                out.push(Reservation {
                    reservation_id: i.reservation_id.clone(),
                    owner_id: i.owner_id.clone(),
                    instances: vec![i],
                });
            }
        }
    }
    out
}

/// Picks, filters, groups and pages the caller's instances.
pub fn select(
    req: &DescribeInstances,
    instances: Vec<Instance>,
) -> Result<(Vec<Reservation>, Option<String>), Ec2Error> {
    let missing: Vec<&str> = req
        .instance_ids
        .iter()
        .filter(|id| !instances.iter().any(|i| &i.instance_id == *id))
        .map(String::as_str)
        .collect();
    match missing.as_slice() {
        [] => {}
        [one] => {
            return Err(Ec2Error::new(
                Code::NotFound(Resource::Instance),
                format!("The instance ID '{one}' does not exist"),
            ));
        }
        many => {
            return Err(Ec2Error::new(
                Code::NotFound(Resource::Instance),
                format!("The instance IDs '{}' do not exist", many.join(", ")),
            ));
        }
    }
    let named: Vec<Instance> = instances
        .into_iter()
        .filter(|i| req.instance_ids.is_empty() || req.instance_ids.contains(&i.instance_id))
        .collect();
    let filtered = filter::apply(&req.filters, named, values);
    req.page
        .cut(DescribeInstances::NAME, reservations(filtered))
}

/// Writes one instance's fields (inside its `<item>`).
pub fn write_instance(w: &mut xml::Writer, i: &Instance) {
    w.text_element("instanceId", &i.instance_id);
    w.text_element("imageId", &i.image_id);
    w.open("instanceState");
    w.int_element("code", i.state.code());
    w.text_element("name", i.state.name());
    w.close("instanceState");
    match private_dns_name(i) {
        Some(name) => w.text_element("privateDnsName", &name),
        None => w.empty("privateDnsName"),
    }
    w.empty("dnsName");
    w.text_element("reason", i.state_reason.as_deref().unwrap_or(""));
    w.opt_text("keyName", i.key_name.as_deref());
    w.int_element("amiLaunchIndex", 0);
    w.empty("productCodes");
    w.text_element("instanceType", &i.instance_type);
    w.time_element("launchTime", xml::timestamp_ms(i.launch_ms));
    w.open("placement");
    w.text_element("availabilityZone", &i.availability_zone);
    w.empty("groupName");
    w.text_element("tenancy", "default");
    w.close("placement");
    w.open("monitoring");
    w.text_element("state", "disabled");
    w.close("monitoring");
    w.opt_text("subnetId", i.subnet_id.as_deref());
    w.opt_text("vpcId", i.vpc_id.as_deref());
    w.opt_text("privateIpAddress", i.private_ip.as_deref());
    if let Some(ip) = i.interfaces.first().and_then(|n| n.public_ip.as_deref()) {
        w.text_element("ipAddress", ip);
    }
    if let Some(n) = i.interfaces.first() {
        w.bool_element("sourceDestCheck", n.source_dest_check);
    }
    write_groups(w, &groups(i).cloned().collect::<Vec<_>>());
    if let Some(reason) = &i.state_reason {
        w.open("stateReason");
        // The reason reads `Code: message`, as EC2 writes it (a launch that failed on its host
        // is `Server.InternalError`).
        let code = reason
            .split_once(": ")
            .map(|(code, _)| code)
            .filter(|code| code.contains('.') && !code.contains(' '))
            .unwrap_or("Client.UserInitiatedShutdown");
        w.text_element("code", code);
        w.text_element("message", reason);
        w.close("stateReason");
    }
    w.text_element("architecture", ARCHITECTURE);
    w.text_element("rootDeviceType", "ebs");
    w.text_element("rootDeviceName", &i.root_device_name);
    block_device_mapping(w, &i.block_devices);
    w.text_element("virtualizationType", "hvm");
    w.list("tagSet", &i.tags, |w, t| {
        w.text_element("key", &t.key);
        w.text_element("value", &t.value);
    });
    w.opt_text("clientToken", i.client_token.as_deref());
    w.text_element("hypervisor", HYPERVISOR);
    w.list("networkInterfaceSet", &i.interfaces, |w, n| {
        write_interface(w, &i.owner_id, i.launch_ms, n)
    });
    w.bool_element("ebsOptimized", false);
    w.bool_element("enaSupport", true);
    w.open("cpuOptions");
    w.int_element("coreCount", i.vcpus);
    w.int_element("threadsPerCore", 1);
    w.close("cpuOptions");
    w.open("capacityReservationSpecification");
    w.text_element("capacityReservationPreference", "open");
    w.close("capacityReservationSpecification");
    w.open("hibernationOptions");
    w.bool_element("configured", false);
    w.close("hibernationOptions");
    metadata_options(w, "metadataOptions", &i.metadata_options);
    w.open("enclaveOptions");
    w.bool_element("enabled", false);
    w.close("enclaveOptions");
    w.text_element("platformDetails", "Linux/UNIX");
    w.text_element("usageOperation", "RunInstances");
    w.open("maintenanceOptions");
    w.text_element("autoRecovery", "default");
    w.close("maintenanceOptions");
    w.text_element("currentInstanceBootMode", "legacy-bios");
}

pub fn render(reservations: &[Reservation], next_token: Option<&str>, request_id: &str) -> String {
    answer(DescribeInstances::NAME, request_id, |w| {
        w.list("reservationSet", reservations, |w, r| {
            w.text_element("reservationId", &r.reservation_id);
            w.text_element("ownerId", &r.owner_id);
            w.empty("groupSet");
            w.list("instancesSet", &r.instances, write_instance);
        });
        w.opt_text("nextToken", next_token);
    })
}

pub async fn serve<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeInstances,
    request_id: &str,
) -> Result<String, Ec2Error> {
    // Without ids or filters a page is cut by the port, in its query; otherwise the door
    // filters the account's (or the named) instances and pages what remains.
    let by_cursor = req.instance_ids.is_empty() && req.filters.is_empty();
    if by_cursor && req.page.max_results.is_some() {
        let after = match req.page.next_token.as_deref() {
            Some(t) if !t.is_empty() => Some(open_cursor(t)?),
            _ => None,
        };
        let limit = req.page.max_results.unwrap_or(usize::MAX);
        let page = port.reservation_page(caller, after.as_ref(), limit).await?;
        let next = page
            .next
            .map(|c| crate::page::seal(CURSOR_TOKEN, &c.to_bytes()));
        return Ok(render(
            &reservations(page.instances),
            next.as_deref(),
            request_id,
        ));
    }
    let instances = port.instances(caller, &req.instance_ids).await?;
    let (page, next) = select(&req, instances)?;
    Ok(render(&page, next.as_deref(), request_id))
}

/// What a cursor token is sealed for, apart from the offset tokens of filtered listings.
const CURSOR_TOKEN: &str = "DescribeInstances/reservations";

fn open_cursor(token: &str) -> Result<ReservationCursor, Ec2Error> {
    let raw = crate::page::open(CURSOR_TOKEN, token)?;
    ReservationCursor::from_bytes(&raw).ok_or_else(|| {
        Ec2Error::internal("a sealed DescribeInstances cursor did not parse".to_owned())
    })
}

/// An instance's volumes as `blockDeviceMapping` lists them, in DescribeInstances and in
/// DescribeInstanceAttribute alike.
pub fn block_device_mapping(w: &mut xml::Writer, devices: &[BlockDevice]) {
    w.list("blockDeviceMapping", devices, |w, b| {
        w.text_element("deviceName", &b.device);
        w.open("ebs");
        w.text_element("volumeId", &b.volume_id);
        w.text_element("status", &b.state);
        w.time_element("attachTime", xml::timestamp_ms(b.attach_ms));
        w.bool_element("deleteOnTermination", b.delete_on_termination);
        w.close("ebs");
    });
}

/// An instance's metadata options under `element` (DescribeInstances' `metadataOptions`,
/// ModifyInstanceMetadataOptions' `instanceMetadataOptions`); a change is applied at once.
pub fn metadata_options(w: &mut xml::Writer, element: &str, m: &MetadataOptions) {
    w.open(element);
    w.text_element("state", "applied");
    w.text_element("httpTokens", &m.http_tokens);
    w.int_element("httpPutResponseHopLimit", m.hop_limit);
    w.text_element("httpEndpoint", &m.http_endpoint);
    w.text_element("httpProtocolIpv6", &m.http_protocol_ipv6);
    w.text_element("instanceMetadataTags", &m.instance_metadata_tags);
    w.close(element);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests fail loudly; case tables
mod tests {
    use super::*;
    use crate::actions::decode;
    use crate::types::{InstanceState, Tag};

    fn instance(n: u8, reservation: &str, state: InstanceState) -> Instance {
        Instance {
            instance_id: format!("i-0000000000000000{n}"),
            reservation_id: reservation.into(),
            owner_id: "111111111111".into(),
            image_id: "ami-0000000000000000a".into(),
            state,
            instance_type: "t3.micro".into(),
            availability_zone: "us-east-1a".into(),
            launch_ms: 1_796_333_265_000,
            vcpus: 2,
            root_device_name: "/dev/sda1".into(),
            key_name: (n == 1).then(|| "k1".to_owned()),
            private_ip: Some(format!("172.31.0.{n}")),
            subnet_id: Some("subnet-0000000000000000a".into()),
            vpc_id: Some("vpc-0000000000000000a".into()),
            interfaces: vec![NetworkInterface {
                interface_id: format!("eni-0000000000000000{n}"),
                subnet_id: "subnet-0000000000000000a".into(),
                vpc_id: "vpc-0000000000000000a".into(),
                device_index: 0,
                private_ip: format!("172.31.0.{n}"),
                mac_address: "02:00:00:00:00:01".into(),
                source_dest_check: true,
                groups: vec![GroupRef {
                    group_id: "sg-0000000000000000a".into(),
                    group_name: "default".into(),
                }],
                public_ip: None,
            }],
            state_reason: None,
            client_token: None,
            block_devices: vec![],
            metadata_options: MetadataOptions::default(),
            tags: if n == 2 {
                vec![Tag {
                    key: "Name".into(),
                    value: "web".into(),
                }]
            } else {
                vec![]
            },
        }
    }

    fn fleet() -> Vec<Instance> {
        vec![
            instance(1, "r-1", InstanceState::Running),
            instance(2, "r-1", InstanceState::Stopped),
            instance(3, "r-2", InstanceState::Running),
        ]
    }

    fn found(pairs: &[(&str, &str)]) -> Vec<String> {
        let req: DescribeInstances = decode(Params::from_pairs(pairs)).unwrap();
        select(&req, fleet())
            .unwrap()
            .0
            .into_iter()
            .flat_map(|r| r.instances)
            .map(|i| i.instance_id[i.instance_id.len() - 1..].to_owned())
            .collect()
    }

    #[test]
    fn selection() {
        let state = |v: &'static str| {
            [
                ("Filter.1.Name", "instance-state-name"),
                ("Filter.1.Value.1", v),
            ]
        };
        let cases: Vec<(Vec<(&str, &str)>, &[&str])> = vec![
            (vec![], &["1", "2", "3"]),
            (vec![("InstanceId.1", "i-00000000000000003")], &["3"]),
            (state("running").to_vec(), &["1", "3"]),
            (state("stopped").to_vec(), &["2"]),
            (
                vec![
                    ("Filter.1.Name", "instance-state-name"),
                    ("Filter.1.Value.1", "running"),
                    ("Filter.1.Value.2", "stopped"),
                ],
                &["1", "2", "3"],
            ),
            (
                vec![("Filter.1.Name", "tag:Name"), ("Filter.1.Value.1", "web")],
                &["2"],
            ),
            (
                vec![("Filter.1.Name", "key-name"), ("Filter.1.Value.1", "k1")],
                &["1"],
            ),
            (
                vec![
                    ("Filter.1.Name", "private-ip-address"),
                    ("Filter.1.Value.1", "172.31.0.3"),
                ],
                &["3"],
            ),
            (
                vec![
                    ("Filter.1.Name", "instance-state-code"),
                    ("Filter.1.Value.1", "16"),
                ],
                &["1", "3"],
            ),
            (
                vec![("Filter.1.Name", "vpc-id"), ("Filter.1.Value.1", "vpc-*")],
                &["1", "2", "3"],
            ),
            (
                vec![
                    ("Filter.1.Name", "subnet-id"),
                    ("Filter.1.Value.1", "subnet-x"),
                ],
                &[],
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(found(&pairs), want, "{pairs:?}");
        }
    }

    #[test]
    fn errors() {
        let cases: &[(&[(&str, &str)], Code)] = &[
            (
                &[("InstanceId.1", "i-1")],
                Code::Malformed(Resource::Instance),
            ),
            (
                &[("InstanceId.1", "i-00000000000000009")],
                Code::NotFound(Resource::Instance),
            ),
            (
                &[("InstanceId.1", "i-00000000000000001"), ("MaxResults", "5")],
                Code::InvalidParameterCombination,
            ),
            (&[("MaxResults", "1001")], Code::InvalidParameterValue),
            (
                &[("Filter.1.Name", "state"), ("Filter.1.Value.1", "running")],
                Code::InvalidParameterValue,
            ),
        ];
        for (pairs, code) in cases {
            let got = decode::<DescribeInstances>(Params::from_pairs(pairs))
                .and_then(|req| select(&req, fleet()));
            assert_eq!(got.unwrap_err().code, *code, "{pairs:?}");
        }
    }

    #[test]
    fn reservations_group_and_page() {
        let req: DescribeInstances = decode(Params::from_pairs(&[("MaxResults", "5")])).unwrap();
        let (page, next) = select(&req, fleet()).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(page[0].instances.len(), 2);
        assert_eq!(next, None);
    }

    #[test]
    fn empty_answer() {
        assert_eq!(
            render(&[], None, "rid"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse xmlns=\
             \"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>rid</requestId>\
             <reservationSet/></DescribeInstancesResponse>"
        );
    }

    #[test]
    fn answer_shape() {
        let (page, _) = select(
            &decode(Params::from_pairs(&[(
                "InstanceId.1",
                "i-00000000000000001",
            )]))
            .unwrap(),
            fleet(),
        )
        .unwrap();
        let text = render(&page, None, "r");
        for part in [
            "<reservationSet><item><reservationId>r-1</reservationId><ownerId>111111111111\
             </ownerId><groupSet/><instancesSet><item><instanceId>i-00000000000000001</instanceId>",
            "<instanceState><code>16</code><name>running</name></instanceState>",
            "<privateDnsName>ip-172-31-0-1.ec2.internal</privateDnsName>",
            "<keyName>k1</keyName>",
            "<launchTime>2026-12-03T21:27:45.000Z</launchTime>",
            "<placement><availabilityZone>us-east-1a</availabilityZone>",
            "<cpuOptions><coreCount>2</coreCount><threadsPerCore>1</threadsPerCore></cpuOptions>",
            "<metadataOptions><state>applied</state>",
            "<enclaveOptions><enabled>false</enabled></enclaveOptions>",
            "<networkInterfaceSet><item><networkInterfaceId>eni-00000000000000001",
            "<attachment><attachmentId>eni-attach-00000000000000001</attachmentId>\
             <deviceIndex>0</deviceIndex>",
            "<groupSet><item><groupId>sg-0000000000000000a</groupId><groupName>default\
             </groupName></item></groupSet>",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
    }
}
