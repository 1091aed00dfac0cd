//! Tags: CreateTags, DeleteTags and DescribeTags over every taggable resource, by EC2 id.

use std::borrow::Cow;

use super::common::{check_tag_key, returned_true};
use super::{answer, Request};
use crate::error::{Code, Ec2Error};
use crate::filter::{self, Filter, FilterNames};
use crate::page::PageRequest;
use crate::query::Params;
use crate::types::ResourceTag;
use crate::{Caller, Ec2Port};

/// CreateTags or DeleteTags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeTags {
    pub resources: Vec<String>,
    pub tags: Vec<(String, Option<String>)>,
    pub dry_run: bool,
}

fn parse_change(p: &mut Params, create: bool) -> Result<ChangeTags, Ec2Error> {
    let resources = p.take_list("ResourceId")?;
    if resources.is_empty() {
        return Err(Ec2Error::new(
            Code::MissingParameter,
            "The request must contain the parameter ResourceId.1.",
        ));
    }
    let mut tags = Vec::new();
    for m in p.take_structs("Tag")? {
        let mut m = Params::from_map(m);
        let key = m.take_required("Key")?;
        if create {
            check_tag_key(&key)?;
        }
        let value = m.take("Value");
        m.finish(&["Key", "Value"])?;
        tags.push((
            key,
            if create {
                Some(value.unwrap_or_default())
            } else {
                value
            },
        ));
    }
    if create && tags.is_empty() {
        return Err(Ec2Error::new(
            Code::MissingParameter,
            "The request must contain the parameter Tag.1.Key.",
        ));
    }
    Ok(ChangeTags {
        resources,
        tags,
        dry_run: p.take_dry_run()?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTags(pub ChangeTags);

impl Request for CreateTags {
    const NAME: &'static str = "CreateTags";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        Ok(Self(parse_change(p, true)?))
    }

    fn dry_run(&self) -> bool {
        self.0.dry_run
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTags(pub ChangeTags);

impl Request for DeleteTags {
    const NAME: &'static str = "DeleteTags";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        Ok(Self(parse_change(p, false)?))
    }

    fn dry_run(&self) -> bool {
        self.0.dry_run
    }
}

pub async fn serve_change<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    action: &str,
    remove: bool,
    req: ChangeTags,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.change_tags(caller, &req.resources, &req.tags, remove, req.dry_run)
        .await?;
    Ok(returned_true(action, request_id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeTags {
    pub filters: Vec<Filter>,
    pub page: PageRequest,
    pub dry_run: bool,
}

const FILTERS: FilterNames = FilterNames {
    names: &["key", "resource-id", "resource-type", "value"],
    tags: true,
};

impl Request for DescribeTags {
    const NAME: &'static str = "DescribeTags";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        FILTERS.check(&filters)?;
        Ok(Self {
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

fn values<'a>(t: &'a ResourceTag, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(key) = name.strip_prefix("tag:") {
        return if t.key == key {
            vec![Cow::Borrowed(t.value.as_str())]
        } else {
            vec![]
        };
    }
    vec![Cow::Borrowed(match name {
        "key" | "tag-key" => t.key.as_str(),
        "value" | "tag-value" => t.value.as_str(),
        "resource-id" => t.resource_id.as_str(),
        "resource-type" => t.resource_type.as_str(),
        _ => return vec![],
    })]
}

pub async fn serve_describe<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeTags,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let tags = filter::apply(&req.filters, port.tags(caller).await?, values);
    let (page, next) = req.page.cut(DescribeTags::NAME, tags)?;
    Ok(answer(DescribeTags::NAME, request_id, |w| {
        w.list("tagSet", &page, |w, t| {
            w.text_element("resourceId", &t.resource_id);
            w.text_element("resourceType", &t.resource_type);
            w.text_element("key", &t.key);
            w.text_element("value", &t.value);
        });
        w.opt_text("nextToken", next.as_deref());
    }))
}
