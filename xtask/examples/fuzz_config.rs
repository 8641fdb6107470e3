//! A mutation fuzzer for the `testing.toml` loader (parse and validate, then
//! render the error as a user would see it). Stable Rust, no sanitizers: it
//! mutates the documented defaults and this repository's own config with
//! byte flips, deletions, duplicated lines and tokens of TOML and of the
//! config's own keys and values, and fails on any panic, saving the input.
//!
//! `cargo run --release -p xtask --example fuzz_config -- --runs 1000000 [--seed N]`

use std::panic::AssertUnwindSafe;

const TOKENS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "\"",
    "'",
    "\"\"\"",
    ",",
    "{",
    "}",
    ".",
    "#",
    "\n",
    "\r\n",
    " ",
    "\\",
    "\\u00e9",
    "é",
    "🐍",
    "\u{0}",
    "-1",
    "0",
    "1",
    "512",
    "513",
    "99999999999999999999",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-inf",
    "3.10",
    "0.5",
    "true",
    "false",
    "1979-05-27",
    "\"auto\"",
    "\"\"",
    "[]",
    "{}",
    "project",
    "setup",
    "parallel",
    "coverage",
    "reports",
    "pytest",
    "timings",
    "ci",
    "flaky",
    "docs",
    "audit",
    "services",
    "workers",
    "dist",
    "engine",
    "order",
    "granularity",
    "test-paths",
    "source",
    "venv",
    "python",
    "lock",
    "fail-under",
    "branch",
    "hash-seed",
    "addopts",
    "markers",
    "args",
    "shards",
    "python-version",
    "runs-on",
    "threshold",
    "known",
    "node-id",
    "reason",
    "link",
    "isolation-fixtures",
    "trend",
    "regression",
    "tcp",
    "command",
    "image",
    "ports",
    "timeout",
    "\"xdist\"",
    "\"shards\"",
    "\"loadscope\"",
    "\"test\"",
    "\"scope\"",
    "\"longest-first\"",
];

/// xorshift64*: enough randomness to mutate with, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, base: &str) -> Vec<u8> {
    let mut bytes = base.as_bytes().to_vec();
    for _ in 0..=rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(7) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if !bytes.is_empty() => {
                let end = (at + rng.below(32)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            3 => {
                // Duplicate a line (duplicate keys and tables).
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let line = lines[rng.below(lines.len())].to_string();
                    bytes.splice(at..at, format!("\n{line}\n").into_bytes());
                }
            }
            4 => bytes.truncate(at),
            5 => {
                let value =
                    ["-1", "0", "1e308", "\"x\"", "[\"nope\"]", "true", "3.10"][rng.below(7)];
                let key = TOKENS[16 + rng.below(TOKENS.len() - 16)];
                bytes.splice(at..at, format!("\n{key} = {value}\n").into_bytes());
            }
            _ => {
                let byte = rng.next() as u8;
                bytes.insert(at, byte);
            }
        }
    }
    bytes
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let runs = value("--runs").unwrap_or(1_000_000);
    let seed = value("--seed").unwrap_or(0x5eed_1234_abcd_0001);
    let bases = [
        xtask::config::DEFAULTS_TOML,
        include_str!("../../testing.toml"),
        "[parallel]\nworkers = 2\n",
        "[[flaky.known]]\nnode-id = \"tests/t.py::t\"\nreason = \"r\"\n",
        "[services.db]\ntcp = \"localhost:5432\"\ntimeout = 5\n",
    ];
    // A project whose paths the validation can find.
    let root = tempfile::tempdir().expect("a temporary directory");
    for dir in ["tests", "src"] {
        std::fs::create_dir_all(root.path().join(dir)).expect("a directory");
    }
    std::fs::write(root.path().join("requirements-dev.lock"), "pytest\n").expect("a file");
    let crashes = std::path::Path::new("fuzz-crashes");
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(seed);
    let (mut valid, mut panics) = (0u64, 0u64);
    for i in 0..runs {
        let base = bases[rng.below(bases.len())];
        let input = mutate(&mut rng, base);
        let text = String::from_utf8_lossy(&input);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            match xtask::config::load_str(&text, root.path()) {
                Ok(_) => true,
                Err(err) => {
                    let rendered = xtask::error::render(&err.into());
                    assert!(rendered.starts_with("error: "), "{rendered}");
                    false
                }
            }
        }));
        match result {
            Ok(true) => valid += 1,
            Ok(false) => {}
            Err(_) => {
                panics += 1;
                std::fs::create_dir_all(crashes).expect("the crashes directory");
                std::fs::write(crashes.join(format!("{i}.toml")), &input).expect("a crash file");
            }
        }
        if (i + 1) % 100_000 == 0 {
            eprintln!("{} inputs, {valid} valid, {panics} panics", i + 1);
        }
    }
    println!("fuzz_config: {runs} inputs (seed {seed:#x}), {valid} valid configs, {panics} panics");
    if panics > 0 {
        println!("inputs that panicked are in {}", crashes.display());
        std::process::exit(1);
    }
}
