//! The instance lifecycle: RunInstances, Start/Stop/Reboot/TerminateInstances,
//! DescribeInstanceStatus, GetConsoleOutput, Describe/ModifyInstanceAttribute and
//! DescribeInstanceCreditSpecifications. Requests are parsed and checked here; the port decides
//! what the core allows (capacity, states, protections) and answers EC2's codes.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::common::{
    check_instance_id, returned_true, tags_for, take_instance_ids, take_tag_specs,
};
use super::instances::{metadata_options, write_instance};
use super::{answer, Request};
use crate::error::{Code, Ec2Error};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::{
    AttributeChange, BlockDeviceRequest, Instance, InstanceAttributes, InstanceState,
    LaunchRequest, MetadataChange, MetadataOptions, StateChange,
};
use crate::xml;
use crate::{Caller, Ec2Port, StateRequest};

const MAX_LAUNCH: i64 = 1000;

/// RunInstances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInstances(pub LaunchRequest);

fn launch_digest(r: &LaunchRequest) -> String {
    let canonical = format!(
        "{:?}|{:?}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}|{:?}|{:?}",
        r.image_id,
        r.instance_type,
        r.min_count,
        r.max_count,
        r.key_name,
        r.security_group_ids,
        r.security_group_names,
        r.subnet_id,
        r.availability_zone,
        r.user_data,
        r.root_size_gib,
        r.instance_tags,
        r.volume_tags,
        r.interface_tags,
        r.metadata,
        r.disable_api_termination,
        r.disable_api_stop,
        r.shutdown_behavior,
        r.block_devices
    );
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// The device names a mapping may use for the root volume (the image's, and the usual
/// Amazon Linux name).
pub const ROOT_DEVICES: [&str; 2] = ["/dev/sda1", "/dev/xvda"];

/// `BlockDeviceMapping.N`: the root volume's size and type, and extra EBS volumes.
pub(crate) fn take_block_devices(p: &mut Params) -> Result<Vec<BlockDeviceRequest>, Ec2Error> {
    let mut out: Vec<BlockDeviceRequest> = Vec::new();
    for members in p.take_structs("BlockDeviceMapping")? {
        let mut m = Params::from_map(members);
        let device = m.take_required("DeviceName")?;
        if out.iter().any(|b| b.device == device) {
            return Err(Ec2Error::invalid_value(format!(
                "The device name '{device}' is mapped more than once."
            )));
        }
        if m.take_bool("Ebs.Encrypted")?.unwrap_or(false) || m.take("Ebs.KmsKeyId").is_some() {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                "Encrypted volumes are not supported: Cirrus volumes are not encrypted.",
            ));
        }
        let no_device = m.take("NoDevice").is_some();
        // LIMITATION: instance store (ephemeral) devices do not exist in Cirrus; a
        // VirtualName mapping is accepted and makes nothing.
        let virtual_name = m.take("VirtualName");
        let b = BlockDeviceRequest {
            device,
            size_gib: m.take_int("Ebs.VolumeSize", 1, 16384)?,
            volume_type: m.take("Ebs.VolumeType"),
            iops: m.take_int("Ebs.Iops", 1, i64::from(i32::MAX))?,
            throughput: m.take_int("Ebs.Throughput", 1, i64::from(i32::MAX))?,
            snapshot_id: m.take("Ebs.SnapshotId"),
            delete_on_termination: m.take_bool("Ebs.DeleteOnTermination")?,
            no_device: no_device || virtual_name.is_some(),
        };
        m.finish(&["DeviceName", "Ebs", "NoDevice", "VirtualName"])?;
        out.push(b);
    }
    Ok(out)
}

/// The root volume's size asked for by a mapping of the root device.
fn root_size(devices: &[BlockDeviceRequest]) -> Option<i64> {
    devices
        .iter()
        .find(|b| ROOT_DEVICES.contains(&b.device.as_str()))
        .and_then(|b| b.size_gib)
}

fn take_shutdown_behavior(p: &mut Params, name: &str) -> Result<Option<String>, Ec2Error> {
    match p.take(name) {
        None => Ok(None),
        Some(v) if v == "stop" || v == "terminate" => Ok(Some(v)),
        Some(v) => Err(Ec2Error::invalid_value(format!(
            "Invalid value '{v}' for {name}: it must be stop or terminate."
        ))),
    }
}

impl Request for RunInstances {
    const NAME: &'static str = "RunInstances";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let image_id = p.take_required("ImageId")?;
        let min_count = p
            .take_int("MinCount", 1, MAX_LAUNCH)?
            .ok_or_else(|| missing("MinCount"))?;
        let max_count = p
            .take_int("MaxCount", 1, MAX_LAUNCH)?
            .ok_or_else(|| missing("MaxCount"))?;
        if min_count > max_count {
            return Err(Ec2Error::invalid_value(format!(
                "MinCount ({min_count}) cannot be greater than MaxCount ({max_count})."
            )));
        }
        let specs = take_tag_specs(p, &["instance", "volume", "network-interface"])?;
        let user_data = p.take("UserData");
        if let Some(u) = &user_data {
            if u.len() > 16 * 1024 * 4 / 3 + 4 {
                return Err(Ec2Error::invalid_value(
                    "The user data is larger than 16 KiB once decoded.",
                ));
            }
        }
        let availability_zone = p.take("Placement.AvailabilityZone");
        if let Some(t) = p.take("Placement.Tenancy") {
            if t != "default" {
                return Err(Ec2Error::new(
                    Code::UnsupportedOperation,
                    format!(
                        "Tenancy '{t}' is not supported; Cirrus places instances on shared hosts."
                    ),
                ));
            }
        }
        // Accepted and answered with their defaults: Cirrus has no detailed monitoring, EBS
        // optimisation or credit modes to switch.
        // LIMITATION: CreditSpecification is not recorded; every burstable type reports
        // `standard` credits.
        for ignored in [
            "Monitoring.Enabled",
            "EbsOptimized",
            "CreditSpecification.CpuCredits",
        ] {
            p.take(ignored);
        }
        let metadata = take_metadata_change(p, "MetadataOptions.")?;
        let mut req = LaunchRequest {
            image_id,
            instance_type: p.take("InstanceType"),
            min_count: min_count as u32,
            max_count: max_count as u32,
            key_name: p.take("KeyName"),
            security_group_ids: p.take_list("SecurityGroupId")?,
            security_group_names: p.take_list("SecurityGroup")?,
            subnet_id: p.take("SubnetId"),
            availability_zone,
            user_data,
            root_size_gib: None,
            block_devices: take_block_devices(p)?,
            instance_tags: tags_for(&specs, "instance"),
            volume_tags: tags_for(&specs, "volume"),
            interface_tags: tags_for(&specs, "network-interface"),
            metadata,
            client_token: p.take("ClientToken"),
            disable_api_termination: p.take_bool("DisableApiTermination")?.unwrap_or(false),
            disable_api_stop: p.take_bool("DisableApiStop")?.unwrap_or(false),
            shutdown_behavior: take_shutdown_behavior(p, "InstanceInitiatedShutdownBehavior")?,
            digest: String::new(),
            dry_run: p.take_dry_run()?,
        };
        if let Some(t) = &req.client_token {
            if t.len() > 64 || !t.is_ascii() {
                return Err(Ec2Error::invalid_value(
                    "The ClientToken must be at most 64 ASCII characters.",
                ));
            }
        }
        req.root_size_gib = root_size(&req.block_devices);
        req.digest = launch_digest(&req);
        Ok(Self(req))
    }

    fn dry_run(&self) -> bool {
        self.0.dry_run
    }
}

fn missing(name: &str) -> Ec2Error {
    Ec2Error::new(
        Code::MissingParameter,
        format!("The request must contain the parameter {name}."),
    )
}

pub fn render_run(instances: &[Instance], request_id: &str) -> String {
    answer(RunInstances::NAME, request_id, |w| {
        let first = instances.first();
        w.opt_text("reservationId", first.map(|i| i.reservation_id.as_str()));
        w.opt_text("ownerId", first.map(|i| i.owner_id.as_str()));
        w.empty("groupSet");
        w.list("instancesSet", instances, write_instance);
    })
}

pub async fn serve_run<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: RunInstances,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let instances = port.run_instances(caller, &req.0).await?;
    Ok(render_run(&instances, request_id))
}

/// Start, Stop, Reboot or TerminateInstances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeState {
    pub instance_ids: Vec<String>,
    pub change: StateRequest,
    pub dry_run: bool,
}

macro_rules! state_action {
    ($ty:ident, $name:literal, $parse:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(pub ChangeState);

        impl Request for $ty {
            const NAME: &'static str = $name;
            const MUTATING: bool = true;

            fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
                let instance_ids = take_instance_ids(p)?;
                let change = ($parse)(&mut *p)?;
                Ok(Self(ChangeState {
                    instance_ids,
                    change,
                    dry_run: p.take_dry_run()?,
                }))
            }

            fn dry_run(&self) -> bool {
                self.0.dry_run
            }
        }
    };
}

state_action!(StartInstances, "StartInstances", |p: &mut Params| {
    // Cirrus keeps no stored additional info to pass to a start.
    p.take("AdditionalInfo");
    Ok::<_, Ec2Error>(StateRequest::Start)
});
state_action!(StopInstances, "StopInstances", |p: &mut Params| {
    if p.take_bool("Hibernate")? == Some(true) {
        return Err(Ec2Error::new(
            Code::UnsupportedOperation,
            "Hibernation is not supported: Cirrus instances stop without saving their memory.",
        ));
    }
    p.take_bool("SkipOsShutdown")?;
    Ok(StateRequest::Stop {
        force: p.take_bool("Force")?.unwrap_or(false),
    })
});
state_action!(RebootInstances, "RebootInstances", |_p: &mut Params| {
    Ok::<_, Ec2Error>(StateRequest::Reboot)
});
state_action!(
    TerminateInstances,
    "TerminateInstances",
    |p: &mut Params| {
        p.take_bool("SkipOsShutdown")?;
        Ok::<_, Ec2Error>(StateRequest::Terminate)
    }
);

fn write_state(w: &mut xml::Writer, name: &str, s: InstanceState) {
    w.open(name);
    w.int_element("code", s.code());
    w.text_element("name", s.name());
    w.close(name);
}

pub fn render_changes(action: &str, changes: &[StateChange], request_id: &str) -> String {
    answer(action, request_id, |w| {
        w.list("instancesSet", changes, |w, c| {
            w.text_element("instanceId", &c.instance_id);
            write_state(w, "currentState", c.current);
            write_state(w, "previousState", c.previous);
        });
    })
}

pub async fn serve_change<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    action: &str,
    req: ChangeState,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let changes = port
        .change_state(caller, &req.instance_ids, req.change, req.dry_run)
        .await?;
    if req.change == StateRequest::Reboot {
        return Ok(returned_true(action, request_id));
    }
    Ok(render_changes(action, &changes, request_id))
}

/// DescribeInstanceStatus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInstanceStatus {
    pub instance_ids: Vec<String>,
    pub include_all: bool,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

const STATUS_FILTERS: FilterNames = FilterNames {
    names: &[
        "availability-zone",
        "instance-state-code",
        "instance-state-name",
        "instance-status.reachability",
        "instance-status.status",
        "system-status.reachability",
        "system-status.status",
    ],
    tags: false,
};

impl Request for DescribeInstanceStatus {
    const NAME: &'static str = "DescribeInstanceStatus";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        STATUS_FILTERS.check(&filters)?;
        let instance_ids = p.take_list("InstanceId")?;
        for id in &instance_ids {
            check_instance_id(id)?;
        }
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
            include_all: p.take_bool("IncludeAllInstances")?.unwrap_or(false),
            filters,
            page,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn health(i: &Instance) -> &'static str {
    if i.state == InstanceState::Running {
        "ok"
    } else {
        "not-applicable"
    }
}

fn status_values<'a>(i: &'a Instance, name: &str) -> Vec<Cow<'a, str>> {
    match name {
        "availability-zone" => vec![Cow::Borrowed(i.availability_zone.as_str())],
        "instance-state-code" => vec![Cow::Owned(i.state.code().to_string())],
        "instance-state-name" => vec![Cow::Borrowed(i.state.name())],
        "instance-status.status" | "system-status.status" => vec![Cow::Borrowed(health(i))],
        "instance-status.reachability" | "system-status.reachability" => {
            vec![Cow::Borrowed(if i.state == InstanceState::Running {
                "passed"
            } else {
                "not-applicable"
            })]
        }
        _ => vec![],
    }
}

fn not_found(ids: &[String], instances: &[Instance]) -> Result<(), Ec2Error> {
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| !instances.iter().any(|i| &i.instance_id == *id))
        .map(String::as_str)
        .collect();
    match missing.as_slice() {
        [] => Ok(()),
        [one] => Err(Ec2Error::new(
            Code::NotFound(crate::error::Resource::Instance),
            format!("The instance ID '{one}' does not exist"),
        )),
        many => Err(Ec2Error::new(
            Code::NotFound(crate::error::Resource::Instance),
            format!("The instance IDs '{}' do not exist", many.join(", ")),
        )),
    }
}

fn write_health(w: &mut xml::Writer, name: &str, i: &Instance) {
    w.open(name);
    w.text_element("status", health(i));
    w.open("details");
    w.open("item");
    w.text_element("name", "reachability");
    w.text_element(
        "status",
        if i.state == InstanceState::Running {
            "passed"
        } else {
            "not-applicable"
        },
    );
    w.close("item");
    w.close("details");
    w.close(name);
}

pub async fn serve_status<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeInstanceStatus,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.instances(caller, &req.instance_ids).await?;
    not_found(&req.instance_ids, &all)?;
    let chosen: Vec<Instance> = all
        .into_iter()
        .filter(|i| req.instance_ids.is_empty() || req.instance_ids.contains(&i.instance_id))
        .filter(|i| req.include_all || i.state == InstanceState::Running)
        .collect();
    let chosen = filter::apply(&req.filters, chosen, status_values);
    let (page, next) = req.page.cut(DescribeInstanceStatus::NAME, chosen)?;
    Ok(answer(DescribeInstanceStatus::NAME, request_id, |w| {
        w.list("instanceStatusSet", &page, |w, i| {
            w.text_element("instanceId", &i.instance_id);
            w.text_element("availabilityZone", &i.availability_zone);
            write_state(w, "instanceState", i.state);
            write_health(w, "systemStatus", i);
            write_health(w, "instanceStatus", i);
            w.empty("eventsSet");
        });
        w.opt_text("nextToken", next.as_deref());
    }))
}

/// GetConsoleOutput.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetConsoleOutput {
    pub instance_id: String,
    pub dry_run: bool,
}

impl Request for GetConsoleOutput {
    const NAME: &'static str = "GetConsoleOutput";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let instance_id = p.take_required("InstanceId")?;
        check_instance_id(&instance_id)?;
        // The whole captured tail is always the latest output.
        p.take_bool("Latest")?;
        Ok(Self {
            instance_id,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_console<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: GetConsoleOutput,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let bytes = port.console_output(caller, &req.instance_id).await?;
    Ok(answer(GetConsoleOutput::NAME, request_id, |w| {
        w.text_element("instanceId", &req.instance_id);
        w.time_element("timestamp", chrono::Utc::now());
        if !bytes.is_empty() {
            w.text_element("output", &STANDARD.encode(&bytes));
        }
    }))
}

/// The attributes DescribeInstanceAttribute answers, by their wire names.
const ATTRIBUTES: &[&str] = &[
    "instanceType",
    "kernel",
    "ramdisk",
    "userData",
    "disableApiTermination",
    "instanceInitiatedShutdownBehavior",
    "rootDeviceName",
    "blockDeviceMapping",
    "productCodes",
    "sourceDestCheck",
    "groupSet",
    "ebsOptimized",
    "sriovNetSupport",
    "enaSupport",
    "enclaveOptions",
    "disableApiStop",
];

/// DescribeInstanceAttribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInstanceAttribute {
    pub instance_id: String,
    pub attribute: String,
    pub dry_run: bool,
}

impl Request for DescribeInstanceAttribute {
    const NAME: &'static str = "DescribeInstanceAttribute";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let instance_id = p.take_required("InstanceId")?;
        check_instance_id(&instance_id)?;
        let attribute = p.take_required("Attribute")?;
        if !ATTRIBUTES.contains(&attribute.as_str()) {
            return Err(Ec2Error::invalid_value(format!(
                "Value ({attribute}) for parameter attribute is invalid. Unknown attribute; it \
                 must be one of {}.",
                ATTRIBUTES.join(", ")
            )));
        }
        Ok(Self {
            instance_id,
            attribute,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn value_element(w: &mut xml::Writer, name: &str, value: &str) {
    w.open(name);
    w.text_element("value", value);
    w.close(name);
}

fn bool_value(w: &mut xml::Writer, name: &str, value: bool) {
    value_element(w, name, if value { "true" } else { "false" });
}

pub fn render_attribute(
    instance_id: &str,
    attribute: &str,
    a: &InstanceAttributes,
    request_id: &str,
) -> String {
    answer(DescribeInstanceAttribute::NAME, request_id, |w| {
        w.text_element("instanceId", instance_id);
        match attribute {
            "instanceType" => value_element(w, "instanceType", &a.instance_type),
            "userData" => match &a.user_data {
                Some(u) => value_element(w, "userData", u),
                None => w.empty("userData"),
            },
            "disableApiTermination" => bool_value(w, attribute, a.disable_api_termination),
            "disableApiStop" => bool_value(w, attribute, a.disable_api_stop),
            "instanceInitiatedShutdownBehavior" => {
                value_element(w, attribute, &a.shutdown_behavior)
            }
            "rootDeviceName" => value_element(w, attribute, &a.root_device_name),
            "sourceDestCheck" => bool_value(w, attribute, a.source_dest_check),
            "ebsOptimized" => bool_value(w, attribute, false),
            "enaSupport" => bool_value(w, attribute, true),
            "sriovNetSupport" => value_element(w, attribute, "simple"),
            "enclaveOptions" => {
                w.open("enclaveOptions");
                w.bool_element("enabled", false);
                w.close("enclaveOptions");
            }
            "groupSet" => w.list("groupSet", &a.groups, |w, g| {
                w.text_element("groupId", &g.group_id);
                w.text_element("groupName", &g.group_name);
            }),
            "blockDeviceMapping" => super::instances::block_device_mapping(w, &a.block_devices),
            "productCodes" => w.empty("productCodes"),
            // kernel and ramdisk: instances boot their image's own kernel.
            other => w.empty(other),
        }
    })
}

pub async fn serve_describe_attribute<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeInstanceAttribute,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let a = port.instance_attributes(caller, &req.instance_id).await?;
    Ok(render_attribute(
        &req.instance_id,
        &req.attribute,
        &a,
        request_id,
    ))
}

/// One of two words (`enabled`/`disabled`, `optional`/`required`) for a metadata option.
fn take_choice(p: &mut Params, name: &str, choices: [&str; 2]) -> Result<Option<String>, Ec2Error> {
    match p.take(name) {
        None => Ok(None),
        Some(v) if choices.contains(&v.as_str()) => Ok(Some(v)),
        Some(v) => Err(Ec2Error::invalid_value(format!(
            "The value '{v}' for {name} is not valid; it must be {} or {}.",
            choices[0], choices[1]
        ))),
    }
}

/// The metadata options a request names, each under `prefix`.
fn take_metadata_change(p: &mut Params, prefix: &str) -> Result<MetadataChange, Ec2Error> {
    const SWITCH: [&str; 2] = ["enabled", "disabled"];
    Ok(MetadataChange {
        http_tokens: take_choice(p, &format!("{prefix}HttpTokens"), ["optional", "required"])?,
        http_endpoint: take_choice(p, &format!("{prefix}HttpEndpoint"), SWITCH)?,
        hop_limit: p.take_int(&format!("{prefix}HttpPutResponseHopLimit"), 1, 64)?,
        http_protocol_ipv6: take_choice(p, &format!("{prefix}HttpProtocolIpv6"), SWITCH)?,
        instance_metadata_tags: take_choice(p, &format!("{prefix}InstanceMetadataTags"), SWITCH)?,
    })
}

/// ModifyInstanceMetadataOptions: changes how an instance's metadata service answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyInstanceMetadataOptions {
    pub instance_id: String,
    pub change: MetadataChange,
    pub dry_run: bool,
}

impl Request for ModifyInstanceMetadataOptions {
    const NAME: &'static str = "ModifyInstanceMetadataOptions";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let instance_id = p.take_required("InstanceId")?;
        check_instance_id(&instance_id)?;
        Ok(Self {
            instance_id,
            change: take_metadata_change(p, "")?,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub fn render_metadata_options(
    instance_id: &str,
    options: &MetadataOptions,
    request_id: &str,
) -> String {
    answer(ModifyInstanceMetadataOptions::NAME, request_id, |w| {
        w.text_element("instanceId", instance_id);
        metadata_options(w, "instanceMetadataOptions", options);
    })
}

pub async fn serve_modify_metadata_options<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: ModifyInstanceMetadataOptions,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let options = port
        .modify_metadata_options(caller, &req.instance_id, &req.change, req.dry_run)
        .await?;
    Ok(render_metadata_options(
        &req.instance_id,
        &options,
        request_id,
    ))
}

/// ModifyInstanceAttribute: one change per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyInstanceAttribute {
    pub instance_id: String,
    pub change: AttributeChange,
    pub dry_run: bool,
}

fn parse_bool_text(name: &str, v: &str) -> Result<bool, Ec2Error> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Ec2Error::invalid_value(format!(
            "Invalid value '{v}' for {name}: it must be true or false."
        ))),
    }
}

fn change_of(attribute: &str, value: String) -> Result<AttributeChange, Ec2Error> {
    Ok(match attribute {
        "instanceType" | "InstanceType" => AttributeChange::InstanceType(value),
        "userData" | "UserData" => AttributeChange::UserData((!value.is_empty()).then_some(value)),
        "disableApiTermination" | "DisableApiTermination" => {
            AttributeChange::DisableApiTermination(parse_bool_text(attribute, &value)?)
        }
        "disableApiStop" | "DisableApiStop" => {
            AttributeChange::DisableApiStop(parse_bool_text(attribute, &value)?)
        }
        "instanceInitiatedShutdownBehavior" | "InstanceInitiatedShutdownBehavior" => {
            if value != "stop" && value != "terminate" {
                return Err(Ec2Error::invalid_value(format!(
                    "Invalid value '{value}' for instanceInitiatedShutdownBehavior: it must be \
                     stop or terminate."
                )));
            }
            AttributeChange::ShutdownBehavior(value)
        }
        "sourceDestCheck" | "SourceDestCheck" => {
            AttributeChange::SourceDestCheck(parse_bool_text(attribute, &value)?)
        }
        other => {
            return Err(Ec2Error::new(
                Code::UnsupportedOperation,
                format!("Changing the instance attribute '{other}' is not supported."),
            ))
        }
    })
}

impl Request for ModifyInstanceAttribute {
    const NAME: &'static str = "ModifyInstanceAttribute";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let instance_id = p.take_required("InstanceId")?;
        check_instance_id(&instance_id)?;
        let mut changes = Vec::new();
        if let Some(attribute) = p.take("Attribute") {
            let value = p.take("Value").unwrap_or_default();
            if attribute == "groupSet" {
                changes.push(AttributeChange::Groups(vec![value]));
            } else {
                changes.push(change_of(&attribute, value)?);
            }
        }
        for name in [
            "InstanceType",
            "UserData",
            "DisableApiTermination",
            "DisableApiStop",
            "InstanceInitiatedShutdownBehavior",
            "SourceDestCheck",
            "Kernel",
            "Ramdisk",
            "EbsOptimized",
            "EnaSupport",
            "SriovNetSupport",
        ] {
            if let Some(v) = p.take(&format!("{name}.Value")) {
                changes.push(change_of(name, v)?);
            }
        }
        let groups = p.take_list("GroupId")?;
        if !groups.is_empty() {
            changes.push(AttributeChange::Groups(groups));
        }
        let dry_run = p.take_dry_run()?;
        let change = match changes.len() {
            1 => changes.remove(0),
            0 => {
                return Err(Ec2Error::new(
                    Code::MissingParameter,
                    "The request must name one attribute to change (for example \
                     DisableApiTermination.Value).",
                ))
            }
            _ => {
                return Err(Ec2Error::new(
                    Code::InvalidParameterCombination,
                    "Only one attribute can be changed per ModifyInstanceAttribute request.",
                ))
            }
        };
        Ok(Self {
            instance_id,
            change,
            dry_run,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_modify_attribute<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: ModifyInstanceAttribute,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.modify_instance(caller, &req.instance_id, &req.change, req.dry_run)
        .await?;
    Ok(returned_true(ModifyInstanceAttribute::NAME, request_id))
}

/// DescribeInstanceCreditSpecifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInstanceCreditSpecifications {
    pub instance_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

const CREDIT_FILTERS: FilterNames = FilterNames {
    names: &["instance-id"],
    tags: false,
};

impl Request for DescribeInstanceCreditSpecifications {
    const NAME: &'static str = "DescribeInstanceCreditSpecifications";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        CREDIT_FILTERS.check(&filters)?;
        let instance_ids = p.take_list("InstanceId")?;
        for id in &instance_ids {
            check_instance_id(id)?;
        }
        Ok(Self {
            instance_ids,
            filters,
            page: PageRequest {
                max_results: p.take_int("MaxResults", 5, 1000)?.map(|n| n as usize),
                next_token: p.take("NextToken"),
            },
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

/// EC2's default credit mode: `standard` for the T2 family, `unlimited` for later T families.
fn cpu_credits(instance_type: &str) -> &'static str {
    if instance_type.starts_with("t2.") {
        "standard"
    } else {
        "unlimited"
    }
}

pub async fn serve_credits<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeInstanceCreditSpecifications,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.instances(caller, &req.instance_ids).await?;
    not_found(&req.instance_ids, &all)?;
    let burstable: Vec<String> = port
        .instance_types(caller)
        .await?
        .into_iter()
        .filter(|t| t.burstable)
        .map(|t| t.name)
        .collect();
    let chosen: Vec<Instance> = all
        .into_iter()
        .filter(|i| req.instance_ids.is_empty() || req.instance_ids.contains(&i.instance_id))
        .filter(|i| i.state != InstanceState::Terminated)
        .filter(|i| burstable.contains(&i.instance_type))
        .collect();
    let chosen = filter::apply(&req.filters, chosen, |i: &Instance, _| {
        vec![Cow::Borrowed(i.instance_id.as_str())]
    });
    let (page, next) = req
        .page
        .cut(DescribeInstanceCreditSpecifications::NAME, chosen)?;
    Ok(answer(
        DescribeInstanceCreditSpecifications::NAME,
        request_id,
        |w| {
            w.list("instanceCreditSpecificationSet", &page, |w, i| {
                w.text_element("instanceId", &i.instance_id);
                w.text_element("cpuCredits", cpu_credits(&i.instance_type));
            });
            w.opt_text("nextToken", next.as_deref());
        },
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly
mod tests {
    use super::*;
    use crate::actions::decode;

    #[test]
    fn run_instances_parses_the_cli_body() {
        let p = Params::from_pairs(&[
            ("BlockDeviceMapping.1.DeviceName", "/dev/sda1"),
            ("BlockDeviceMapping.1.Ebs.VolumeSize", "20"),
            ("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true"),
            ("ImageId", "ami-1"),
            ("InstanceType", "t2.micro"),
            ("UserData", "aGVsbG8="),
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", "x"),
            ("MinCount", "1"),
            ("MaxCount", "2"),
            ("ClientToken", "tok"),
        ]);
        let RunInstances(r) = decode(p).unwrap();
        assert_eq!(r.root_size_gib, Some(20));
        assert_eq!(r.user_data.as_deref(), Some("aGVsbG8="));
        assert_eq!(r.instance_tags.len(), 1);
        assert_eq!((r.min_count, r.max_count), (1, 2));
        assert_eq!(r.client_token.as_deref(), Some("tok"));
        assert_eq!(r.digest.len(), 64);

        let other = Params::from_pairs(&[
            ("ImageId", "ami-1"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("ClientToken", "tok"),
        ]);
        let RunInstances(o) = decode(other).unwrap();
        assert_ne!(o.digest, r.digest);
    }

    #[test]
    fn run_instances_refusals() {
        let cases: &[(&[(&str, &str)], Code)] = &[
            (
                &[("MinCount", "1"), ("MaxCount", "1")],
                Code::MissingParameter,
            ),
            (
                &[("ImageId", "ami-1"), ("MinCount", "2"), ("MaxCount", "1")],
                Code::InvalidParameterValue,
            ),
            (
                &[
                    ("ImageId", "ami-1"),
                    ("MinCount", "1"),
                    ("MaxCount", "1"),
                    ("TagSpecification.1.ResourceType", "vpc"),
                    ("TagSpecification.1.Tag.1.Key", "a"),
                ],
                Code::InvalidParameterValue,
            ),
        ];
        for (pairs, code) in cases {
            let e = decode::<RunInstances>(Params::from_pairs(pairs)).unwrap_err();
            assert_eq!(e.code, *code, "{pairs:?}");
        }
    }

    #[test]
    fn modify_takes_one_change() {
        let p = Params::from_pairs(&[
            ("InstanceId", "i-00000000000000001"),
            ("DisableApiTermination.Value", "false"),
        ]);
        let m: ModifyInstanceAttribute = decode(p).unwrap();
        assert_eq!(m.change, AttributeChange::DisableApiTermination(false));
        let p = Params::from_pairs(&[
            ("InstanceId", "i-00000000000000001"),
            ("Attribute", "instanceInitiatedShutdownBehavior"),
            ("Value", "terminate"),
        ]);
        let m: ModifyInstanceAttribute = decode(p).unwrap();
        assert_eq!(
            m.change,
            AttributeChange::ShutdownBehavior("terminate".into())
        );
        let two = Params::from_pairs(&[
            ("InstanceId", "i-00000000000000001"),
            ("DisableApiTermination.Value", "false"),
            ("DisableApiStop.Value", "false"),
        ]);
        assert_eq!(
            decode::<ModifyInstanceAttribute>(two).unwrap_err().code,
            Code::InvalidParameterCombination
        );
    }

    #[test]
    fn state_changes_render_both_states() {
        let text = render_changes(
            "StopInstances",
            &[StateChange {
                instance_id: "i-1".into(),
                previous: InstanceState::Running,
                current: InstanceState::Stopping,
            }],
            "r",
        );
        assert!(text.contains(
            "<instancesSet><item><instanceId>i-1</instanceId><currentState><code>64</code>\
             <name>stopping</name></currentState><previousState><code>16</code><name>running\
             </name></previousState></item></instancesSet>"
        ));
    }
}
