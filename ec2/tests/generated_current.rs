//! The committed operation tables are what the generator writes from the pinned botocore:
//! runs `python3 ec2/codegen/gen_actions.py --check`. Where python3 or that botocore release is
//! not installed the check cannot run and says so (the test command installs the pinned
//! clients, so CI always runs it).

use std::process::Command;

use cirrus_ec2::generated::operations::BOTOCORE_VERSION;

#[test]
fn generated_operations_are_current() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let installed = Command::new("python3")
        .args(["-c", "import botocore; print(botocore.__version__)"])
        .output();
    let installed = match installed {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => String::new(),
    };
    if installed != BOTOCORE_VERSION {
        #[allow(clippy::print_stderr)] // the only way a test can say why it did not check
        {
            eprintln!(
                "skipped: botocore {BOTOCORE_VERSION} is not what python3 has ({installed:?}); \
                 install it to check ec2/src/generated/operations.rs"
            );
        }
        return;
    }
    let out = Command::new("python3")
        .args(["ec2/codegen/gen_actions.py", "--check"])
        .current_dir(root)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
