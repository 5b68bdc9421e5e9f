//! The OCI image archive `make image` writes with `scripts/image.py`: an OCI image layout in a
//! tar whose one layer holds a statically linked binary, run as 65532, with OCI labels.
//!
//! Two tests: `the_image_script_writes_a_valid_layout` always runs the script on a tiny static
//! executable written here (no release build needed) and checks everything the archive promises;
//! `the_built_image_is_valid_and_its_binary_runs` checks `target/image/controlhub-operator.oci.tar`
//! (or `$CONTROLHUB_IMAGE_ARCHIVE`) when `make image` has written it, and says why it skips otherwise.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const BINARY: &str = "controlhub-operator";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The entries of a tar file (regular files only; directories and PAX headers skipped), by name.
fn untar(data: &[u8]) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut files = BTreeMap::new();
    let mut offset = 0;
    let mut long_name: Option<String> = None;
    while offset + 512 <= data.len() {
        let header = &data[offset..offset + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let field = |from: usize, len: usize| {
            let raw = &header[from..from + len];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(len);
            String::from_utf8_lossy(&raw[..end]).trim().to_string()
        };
        let octal = |from: usize, len: usize| u64::from_str_radix(&field(from, len), 8).unwrap_or(0);
        let size = octal(124, 12) as usize;
        let mode = octal(100, 8) as u32;
        let typeflag = header[156];
        let prefix = field(345, 155);
        let name = match (long_name.take(), prefix.is_empty()) {
            (Some(name), _) => name,
            (None, true) => field(0, 100),
            (None, false) => format!("{prefix}/{}", field(0, 100)),
        };
        let body = data[offset + 512..offset + 512 + size].to_vec();
        match typeflag {
            b'x' => {
                // PAX extended header: keep a `path` record for the next entry.
                let text = String::from_utf8_lossy(&body);
                for record in text.lines() {
                    if let Some((_, kv)) = record.split_once(' ')
                        && let Some(path) = kv.strip_prefix("path=")
                    {
                        long_name = Some(path.to_string());
                    }
                }
            }
            b'0' | 0 => {
                files.insert(name, (mode, body));
            }
            _ => {}
        }
        offset += 512 + size.div_ceil(512) * 512;
    }
    files
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn blob<'a>(files: &'a BTreeMap<String, (u32, Vec<u8>)>, descriptor: &Value) -> &'a [u8] {
    let digest = descriptor["digest"].as_str().expect("digest");
    let (_, data) = files
        .get(&format!(
            "blobs/sha256/{}",
            digest.strip_prefix("sha256:").expect("sha256")
        ))
        .unwrap_or_else(|| panic!("blob {digest} missing"));
    assert_eq!(sha256(data), digest, "blob content does not match its digest");
    assert_eq!(
        descriptor["size"].as_u64(),
        Some(data.len() as u64),
        "{digest}: size"
    );
    data
}

/// The PT_INTERP path of a 64-bit little-endian ELF executable, or None.
fn elf_interpreter(elf: &[u8]) -> Option<String> {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!((elf[4], elf[5]), (2, 1), "not 64-bit little-endian");
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().expect("2"));
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().expect("4"));
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().expect("8")) as usize;
    assert_eq!(u16_at(18), 0x3e, "not x86-64");
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36) as usize, u16_at(0x38) as usize);
    (0..phnum).find_map(|i| {
        let ph = phoff + i * phentsize;
        (u32_at(ph) == 3).then(|| {
            let (offset, size) = (u64_at(ph + 8), u64_at(ph + 0x20));
            String::from_utf8_lossy(&elf[offset..offset + size])
                .trim_end_matches('\0')
                .to_string()
        })
    })
}

/// Checks an archive and returns the binary it holds. `source` is the expected source label.
fn check_archive(archive: &Path, version: &str) -> Vec<u8> {
    let outer = untar(&std::fs::read(archive).expect("read archive"));
    let (_, layout) = &outer["oci-layout"];
    let layout: Value = serde_json::from_slice(layout).expect("oci-layout");
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Value = serde_json::from_slice(&outer["index.json"].1).expect("index.json");
    assert_eq!(index["schemaVersion"], 2);
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 1);
    assert_eq!(
        manifests[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifests[0]["annotations"]["org.opencontainers.image.ref.name"],
        version
    );
    let manifest: Value = serde_json::from_slice(blob(&outer, &manifests[0])).expect("manifest");
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let config: Value = serde_json::from_slice(blob(&outer, &manifest["config"])).expect("config");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "exactly one layer");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let mut layer_tar = Vec::new();
    flate2::read::GzDecoder::new(blob(&outer, &layers[0]))
        .read_to_end(&mut layer_tar)
        .expect("gunzip layer");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!([sha256(&layer_tar)]),
        "diff_id is the digest of the uncompressed layer"
    );
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    let run = &config["config"];
    assert_eq!(run["User"], "65532:65532");
    assert_eq!(run["Entrypoint"], serde_json::json!([format!("/{BINARY}")]));
    assert_eq!(run["Cmd"], serde_json::json!(["run"]));
    let labels = &run["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], version);
    let source = labels["org.opencontainers.image.source"]
        .as_str()
        .expect("source label");
    assert!(!source.is_empty());
    assert_eq!(manifest["annotations"], *labels);

    let layer = untar(&layer_tar);
    assert_eq!(
        layer.keys().collect::<Vec<_>>(),
        [BINARY],
        "the layer holds only the binary"
    );
    let (mode, binary) = &layer[BINARY];
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(elf_interpreter(binary), None, "the binary has an ELF interpreter");
    binary.clone()
}

/// Writes `binary` to a fresh file and runs it with `--version`.
fn run_version(binary: &[u8], dir: &Path) -> String {
    let path = dir.join(BINARY);
    std::fs::write(&path, binary).expect("write binary");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // A parallel test's fork may briefly hold the just-written file open: retry "text file busy".
    let mut attempts = 0;
    let output = loop {
        match Command::new(&path).arg("--version").env_clear().output() {
            Err(e) if e.raw_os_error() == Some(26) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => break result.expect("run the binary"),
        }
    };
    assert!(output.status.success(), "{}: {:?}", path.display(), output);
    String::from_utf8(output.stdout).expect("utf-8")
}

fn scratch(name: &str) -> PathBuf {
    let dir = root()
        .join("target/tmp/gitops-image")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A minimal static x86-64 Linux executable (no interpreter, one PT_LOAD): writes `message` to
/// stdout and exits 0, whatever its arguments.
fn tiny_static_executable(message: &[u8]) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const CODE: u64 = 64 + 56;
    let mut code: Vec<u8> = vec![
        0xb8, 1, 0, 0, 0, // mov eax, 1 (write)
        0xbf, 1, 0, 0, 0, // mov edi, 1 (stdout)
        0x48, 0x8d, 0x35, 16, 0, 0, 0,    // lea rsi, [rip + 16] (the message)
        0xba, // mov edx, len
    ];
    code.extend_from_slice(&(message.len() as u32).to_le_bytes());
    code.extend_from_slice(&[
        0x0f, 0x05, // syscall
        0xb8, 60, 0, 0, 0, // mov eax, 60 (exit)
        0x31, 0xff, // xor edi, edi
        0x0f, 0x05, // syscall
    ]);
    code.extend_from_slice(message);
    let total = CODE + code.len() as u64;
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(BASE + CODE).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for word in [0, BASE, BASE, total, total, 0x1000] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(&code);
    elf
}

fn image_script(binary: &Path, version: &str, out: &Path) -> std::process::Output {
    Command::new("python3")
        .arg(root().join("scripts/image.py"))
        .arg("--binary")
        .arg(binary)
        .args(["--version", version])
        .args(["--source", "https://example.com/controlhub-operator"])
        .arg("--out")
        .arg(out)
        .output()
        .expect("python3 scripts/image.py")
}

#[test]
fn the_image_script_writes_a_valid_layout() {
    let dir = scratch("tiny");
    let message = format!("{BINARY} {VERSION}\n");
    let executable = tiny_static_executable(message.as_bytes());
    let path = dir.join("tiny");
    std::fs::write(&path, &executable).expect("write");
    let archive = dir.join("image.oci.tar");
    let output = image_script(&path, VERSION, &archive);
    assert!(output.status.success(), "{output:?}");
    let first = std::fs::read(&archive).expect("archive");

    let binary = check_archive(&archive, VERSION);
    assert_eq!(binary, executable);
    assert_eq!(run_version(&binary, &dir), message);

    // Reproducible: the same input gives the same bytes.
    let output = image_script(&path, VERSION, &archive);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        std::fs::read(&archive).expect("archive"),
        first,
        "not reproducible"
    );

    // A dynamically linked binary is refused.
    let dynamic = std::env::current_exe().expect("this test binary");
    assert!(
        elf_interpreter(&std::fs::read(&dynamic).expect("read")).is_some(),
        "expected the test binary to be dynamically linked"
    );
    let output = image_script(&dynamic, VERSION, &dir.join("refused.tar"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("dynamically linked"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_built_image_is_valid_and_its_binary_runs() {
    let archive = std::env::var_os("CONTROLHUB_IMAGE_ARCHIVE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/image/controlhub-operator.oci.tar"));
    if !archive.is_file() {
        eprintln!(
            "SKIPPED: {} is absent; `make image` writes it (then this test checks it)",
            archive.display()
        );
        return;
    }
    let dir = scratch("built");
    let binary = check_archive(&archive, VERSION);
    let printed = run_version(&binary, &dir);
    assert_eq!(printed.trim(), format!("{BINARY} {VERSION}"));
    let _ = std::fs::remove_dir_all(&dir);
}
