//! The translations: the root crate's implementations of the ports the door crates define.
//! Each turns a door's typed request into operations of the core and the core's answer into
//! the door's typed response; none of them knows HTTP or a wire format.

pub mod ec2;
mod ec2_volumes;
pub mod ec2_vpc;
pub mod native;
pub mod s3;

use std::sync::Arc;

use crate::cloud::Cloud;

/// Implements every door's port over one [`Cloud`].
#[derive(Debug, Clone)]
pub struct Translator {
    pub cloud: Arc<Cloud>,
}

impl Translator {
    pub fn new(cloud: Arc<Cloud>) -> Self {
        Self { cloud }
    }
}
