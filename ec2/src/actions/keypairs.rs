//! Key pairs: CreateKeyPair (RSA or Ed25519 made by the cloud, private key shown once),
//! ImportKeyPair (an OpenSSH public key, base64 on the wire), DescribeKeyPairs (not paginated
//! on EC2) and DeleteKeyPair.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::common::{returned_true, tags_for, take_tag_specs, write_tags};
use super::{answer, Request};
use crate::error::{Code, Ec2Error, Resource};
use crate::filter::{self, Filter, FilterNames};
use crate::query::Params;
use crate::types::{KeyPair, Tag};
use crate::xml;
use crate::{Caller, Ec2Port};

fn check_name(name: &str) -> Result<(), Ec2Error> {
    if name.is_empty() || name.chars().count() > 255 || !name.is_ascii() {
        return Err(Ec2Error::invalid_value(format!(
            "The key pair name '{name}' must be 1 to 255 ASCII characters."
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateKeyPair {
    pub name: String,
    pub key_type: String,
    pub tags: Vec<Tag>,
    pub dry_run: bool,
}

impl Request for CreateKeyPair {
    const NAME: &'static str = "CreateKeyPair";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let name = p.take_required("KeyName")?;
        check_name(&name)?;
        let key_type = p.take("KeyType").unwrap_or_else(|| "rsa".into());
        if key_type != "rsa" && key_type != "ed25519" {
            return Err(Ec2Error::invalid_value(format!(
                "Invalid value '{key_type}' for KeyType: it must be rsa or ed25519."
            )));
        }
        match p.take("KeyFormat").as_deref() {
            None | Some("pem") => {}
            Some("ppk") => {
                return Err(Ec2Error::new(
                    Code::UnsupportedOperation,
                    "KeyFormat ppk is not supported; ask for pem and convert it with puttygen.",
                ))
            }
            Some(other) => {
                return Err(Ec2Error::invalid_value(format!(
                    "Invalid value '{other}' for KeyFormat: it must be pem or ppk."
                )))
            }
        }
        let specs = take_tag_specs(p, &["key-pair"])?;
        Ok(Self {
            name,
            key_type,
            tags: tags_for(&specs, "key-pair"),
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportKeyPair {
    pub name: String,
    pub public_key: String,
    pub tags: Vec<Tag>,
    pub dry_run: bool,
}

impl Request for ImportKeyPair {
    const NAME: &'static str = "ImportKeyPair";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let name = p.take_required("KeyName")?;
        check_name(&name)?;
        let material = p.take_required("PublicKeyMaterial")?;
        let bytes = STANDARD.decode(material.trim()).map_err(|_| {
            Ec2Error::invalid_value("PublicKeyMaterial is not valid base64.".to_owned())
        })?;
        let public_key = String::from_utf8(bytes).map_err(|_| {
            Ec2Error::new(
                Code::Malformed(Resource::KeyPair),
                "Key is not in valid OpenSSH public key format",
            )
        })?;
        let specs = take_tag_specs(p, &["key-pair"])?;
        Ok(Self {
            name,
            public_key,
            tags: tags_for(&specs, "key-pair"),
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn write_pair_fields(w: &mut xml::Writer, k: &KeyPair) {
    w.text_element("keyPairId", &k.key_pair_id);
    w.text_element("keyName", &k.key_name);
    w.text_element("keyFingerprint", &k.fingerprint);
}

pub async fn serve_create<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: CreateKeyPair,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let made = port
        .add_key_pair(
            caller,
            &req.name,
            &req.key_type,
            None,
            &req.tags,
            req.dry_run,
        )
        .await?;
    Ok(answer(CreateKeyPair::NAME, request_id, |w| {
        write_pair_fields(w, &made.pair);
        w.text_element("keyMaterial", &made.key_material);
        write_tags(w, &made.pair.tags);
    }))
}

pub async fn serve_import<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: ImportKeyPair,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let made = port
        .add_key_pair(
            caller,
            &req.name,
            "",
            Some(&req.public_key),
            &req.tags,
            req.dry_run,
        )
        .await?;
    Ok(answer(ImportKeyPair::NAME, request_id, |w| {
        write_pair_fields(w, &made.pair);
        write_tags(w, &made.pair.tags);
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeKeyPairs {
    pub names: Vec<String>,
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub include_public_key: bool,
    pub dry_run: bool,
}

const FILTERS: FilterNames = FilterNames {
    names: &["key-name", "key-pair-id", "fingerprint", "key-type"],
    tags: true,
};

impl Request for DescribeKeyPairs {
    const NAME: &'static str = "DescribeKeyPairs";

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let filters = p.take_filters()?;
        FILTERS.check(&filters)?;
        Ok(Self {
            names: p.take_list("KeyName")?,
            ids: p.take_list("KeyPairId")?,
            filters,
            include_public_key: p.take_bool("IncludePublicKey")?.unwrap_or(false),
            dry_run: p.take_dry_run()?,
        })
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }
}

fn values<'a>(k: &'a KeyPair, name: &str) -> Vec<Cow<'a, str>> {
    if let Some(t) = filter::tag_values(&k.tags, name) {
        return t;
    }
    vec![Cow::Borrowed(match name {
        "key-name" => k.key_name.as_str(),
        "key-pair-id" => k.key_pair_id.as_str(),
        "fingerprint" => k.fingerprint.as_str(),
        "key-type" => k.key_type.as_str(),
        _ => return vec![],
    })]
}

pub async fn serve_describe<P: Ec2Port + ?Sized>(
    port: &P,
    caller: &Caller,
    req: DescribeKeyPairs,
    request_id: &str,
) -> Result<String, Ec2Error> {
    let all = port.key_pairs(caller).await?;
    for name in &req.names {
        if !all.iter().any(|k| &k.key_name == name) {
            return Err(Ec2Error::new(
                Code::NotFound(Resource::KeyPair),
                format!("The key pair '{name}' does not exist"),
            ));
        }
    }
    for id in &req.ids {
        if !all.iter().any(|k| &k.key_pair_id == id) {
            return Err(Ec2Error::new(
                Code::NotFound(Resource::KeyPair),
                format!("The key pair '{id}' does not exist"),
            ));
        }
    }
    let chosen: Vec<KeyPair> = all
        .into_iter()
        .filter(|k| req.names.is_empty() || req.names.contains(&k.key_name))
        .filter(|k| req.ids.is_empty() || req.ids.contains(&k.key_pair_id))
        .collect();
    let chosen = filter::apply(&req.filters, chosen, values);
    Ok(answer(DescribeKeyPairs::NAME, request_id, |w| {
        w.list("keySet", &chosen, |w, k| {
            write_pair_fields(w, k);
            w.text_element("keyType", &k.key_type);
            write_tags(w, &k.tags);
            if req.include_public_key {
                w.text_element("publicKey", &k.public_key);
            }
            w.time_element("createTime", xml::timestamp_ms(k.created_ms));
        });
    }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteKeyPair {
    pub name: Option<String>,
    pub id: Option<String>,
    pub dry_run: bool,
}

impl Request for DeleteKeyPair {
    const NAME: &'static str = "DeleteKeyPair";
    const MUTATING: bool = true;

    fn parse(p: &mut Params) -> Result<Self, Ec2Error> {
        let name = p.take("KeyName");
        let id = p.take("KeyPairId");
        if name.is_none() && id.is_none() {
            return Err(Ec2Error::new(
                Code::MissingParameter,
                "The request must contain the parameter KeyName or KeyPairId.",
            ));
        }
        Ok(Self {
            name,
            id,
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
    req: DeleteKeyPair,
    request_id: &str,
) -> Result<String, Ec2Error> {
    port.delete_key_pair(caller, req.name.as_deref(), req.id.as_deref(), req.dry_run)
        .await?;
    Ok(returned_true(DeleteKeyPair::NAME, request_id))
}
