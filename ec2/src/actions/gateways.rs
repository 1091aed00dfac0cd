//! Internet gateways: CreateInternetGateway, AttachInternetGateway, DetachInternetGateway,
//! DeleteInternetGateway and DescribeInternetGateways. An attached gateway's attachment state is
//! `available` (what Terraform's waiter polls for); a VPC has at most one.

use std::borrow::Cow;

use super::common::{returned_true, tags_for, take_tag_specs, write_tags};
use super::vpc_admin::{check_id, take_vpc_id};
use super::vpcs::take_page;
use super::{answer, Request};
use crate::error::{Code, Ec2Error, NetCode};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::Tag;
use crate::vpc_types::InternetGateway;
use crate::xml;
use crate::{Caller, Ec2Port};

fn take_gateway_id(p: &mut Params) -> Result<String, Ec2Error> {
    let id = p.take_required("InternetGatewayId")?;
    check_id(&id, "igw", Code::Net(NetCode::InternetGatewayMalformed))?;
    Ok(id)
}

pub fn gateway_not_found(id: &str) -> Ec2Error {
    Ec2Error::new(
        Code::Net(NetCode::InternetGatewayNotFound),
        format!("The internetGateway ID '{id}' does not exist"),
    )
}

fn write_gateway(w: &mut xml::Writer, g: &InternetGateway) {
    w.text_element("internetGatewayId", &g.internet_gateway_id);
    w.text_element("ownerId", &g.owner_id);
    w.open("attachmentSet");
    if let Some(vpc) = &g.vpc_id {
        w.open("item");
        w.text_element("vpcId", vpc);
        w.text_element("state", "available");
        w.close("item");
    }
    w.close("attachmentSet");
    write_tags(w, &g.tags);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateInternetGateway {
    pub tags: Vec<Tag>,
    pub dry_run: bool,
}

impl Request for CreateInternetGateway {
    const NAME: &'static str = "CreateInternetGateway";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let specs = take_tag_specs(p, &["internet-gateway"])?;
        Ok(Self {
            tags: tags_for(&specs, "internet-gateway"),
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_create<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: CreateInternetGateway,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let g = port
        .create_internet_gateway(caller, &req.tags, req.dry_run)
        .await?;
    Ok(answer(CreateInternetGateway::NAME, request_id, |w| {
        w.open("internetGateway");
        write_gateway(w, &g);
        w.close("internetGateway");
    }))
}

/// AttachInternetGateway and DetachInternetGateway: a gateway and a VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub gateway_id: String,
    pub vpc_id: String,
    pub dry_run: bool,
}

fn parse_attachment(p: &mut Params) -> Result<Attachment, Ec2Error> {
    Ok(Attachment {
        gateway_id: take_gateway_id(p)?,
        vpc_id: take_vpc_id(p)?,
        dry_run: p.take_dry_run()?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachInternetGateway(pub Attachment);

impl Request for AttachInternetGateway {
    const NAME: &'static str = "AttachInternetGateway";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        parse_attachment(p).map(Self)
    }

    fn dry_run(&self) -> bool {
        self.0.dry_run
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachInternetGateway(pub Attachment);

impl Request for DetachInternetGateway {
    const NAME: &'static str = "DetachInternetGateway";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        parse_attachment(p).map(Self)
    }

    fn dry_run(&self) -> bool {
        self.0.dry_run
    }
}

pub async fn serve_attach<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    action: &str,
    attach: bool,
    req: Attachment,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.attach_internet_gateway(caller, &req.gateway_id, &req.vpc_id, attach, req.dry_run)
        .await?;
    Ok(returned_true(action, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteInternetGateway {
    pub gateway_id: String,
    pub dry_run: bool,
}

impl Request for DeleteInternetGateway {
    const NAME: &'static str = "DeleteInternetGateway";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        Ok(Self {
            gateway_id: take_gateway_id(p)?,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

pub async fn serve_delete<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DeleteInternetGateway,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.delete_internet_gateway(caller, &req.gateway_id, req.dry_run)
        .await?;
    Ok(returned_true(DeleteInternetGateway::NAME, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInternetGateways {
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

const GATEWAY_FILTERS: FilterNames = FilterNames {
    names: &[
        "attachment.state",
        "attachment.vpc-id",
        "internet-gateway-id",
        "owner-id",
    ],
    tags: true,
};

impl Request for DescribeInternetGateways {
    const NAME: &'static str = "DescribeInternetGateways";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        GATEWAY_FILTERS.check(&filters)?;
        Ok(Self {
            ids: p.take_list("InternetGatewayId")?,
            filters,
            page: take_page(p)?,
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn gateway_values<'a>(g: &'a InternetGateway, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(t) = filter::tag_values(&g.tags, name) {
        return t;
    }
    match name {
        "attachment.state" => g
            .vpc_id
            .iter()
            .map(|_| Cow::Borrowed("available"))
            .collect(),
        "attachment.vpc-id" => g.vpc_id.iter().map(|v| Cow::Borrowed(v.as_str())).collect(),
        "internet-gateway-id" => vec![Cow::Borrowed(g.internet_gateway_id.as_str())],
        "owner-id" => vec![Cow::Borrowed(g.owner_id.as_str())],
        _ => vec![],
    }
}

pub async fn serve_describe<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeInternetGateways,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.internet_gateways(caller).await?;
    if let Some(id) = req
        .ids
        .iter()
        .find(|id| !all.iter().any(|g| g.internet_gateway_id == **id))
    {
        return Err(gateway_not_found(id));
    }
    let chosen: Vec<InternetGateway> = all
        .into_iter()
        .filter(|g| req.ids.is_empty() || req.ids.contains(&g.internet_gateway_id))
        .collect();
    let chosen = filter::apply(&req.filters, chosen, gateway_values);
    let (page, next) = req.page.cut(DescribeInternetGateways::NAME, chosen)?;
    Ok(answer(DescribeInternetGateways::NAME, request_id, |w| {
        w.list("internetGatewaySet", &page, write_gateway);
        w.opt_text("nextToken", next.as_deref());
    }))
}
