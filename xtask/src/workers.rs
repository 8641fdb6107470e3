//! `PYTEST_WORKERS`, `--workers` and `parallel.workers` → how many pytest
//! workers a run uses, and why.
//!
//! `auto` is computed here, not by xdist: the smallest of the CPU affinity
//! mask and the cgroup CPU quota (v1 and v2), because xdist's own `-n auto`
//! counts host CPUs inside CI containers.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{Parallel, WorkersSetting, MAX_WORKERS};
use crate::error::UserError;

/// The environment variable that overrides the worker count for one run.
pub const ENV_VAR: &str = "PYTEST_WORKERS";

/// A worker count as the user wrote it, before `auto` is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Auto,
    Count(u16),
}

/// The resolved decision: serial (xdist not loaded) or exactly `n` workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workers {
    Serial { why: String },
    Parallel { n: u16, why: String },
}

impl Workers {
    pub fn count(&self) -> u16 {
        match self {
            Workers::Serial { .. } => 1,
            Workers::Parallel { n, .. } => *n,
        }
    }

    pub fn is_parallel(&self) -> bool {
        matches!(self, Workers::Parallel { .. })
    }
}

impl fmt::Display for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workers::Serial { why } => write!(f, "serial ({why})"),
            Workers::Parallel { n, why } => write!(f, "{n} workers ({why})"),
        }
    }
}

/// Which task is asking: the two differ only when nothing is requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// `cargo xtask pytest`: serial unless asked otherwise.
    Pytest,
    /// `cargo xtask pytest-parallel`: the config's `parallel.workers` by default.
    PytestParallel,
}

/// Parses a worker count from `source` (the variable or flag name, for the message).
pub fn parse(source: &str, value: &str) -> Result<Option<Request>, UserError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.eq_ignore_ascii_case("auto") {
        return Ok(Some(Request::Auto));
    }
    match trimmed.parse::<i64>() {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(Some(Request::Count(n as u16))),
        _ => Err(UserError::usage(
            format!("{source}=`{value}` is not a valid worker count: expected `auto` or a whole number from 1 to {MAX_WORKERS}"),
            format!("use {source}=1 for serial, {source}=auto for one worker per usable CPU; an empty value means the task's default"),
        )),
    }
}

/// The one prologue of every task that runs tests: the workers for `task`
/// from the `--workers` flag, then `PYTEST_WORKERS`, then the config, with
/// the CPUs this process may use.
pub fn for_task(task: Task, flag: Option<&str>, config: &Parallel) -> Result<Workers, UserError> {
    let env = std::env::var(ENV_VAR).ok();
    resolve(task, flag, env.as_deref(), config, &usable_cpus)
}

/// Decides the workers for `task` from the flag, the environment variable and the config.
pub fn resolve(
    task: Task,
    flag: Option<&str>,
    env: Option<&str>,
    config: &Parallel,
    cpus: &dyn Fn() -> UsableCpus,
) -> Result<Workers, UserError> {
    let (request, origin) =
        if let Some(req) = flag.map(|f| parse("--workers", f)).transpose()?.flatten() {
            (req, "--workers".to_string())
        } else if let Some(req) = env.map(|v| parse(ENV_VAR, v)).transpose()?.flatten() {
            (req, ENV_VAR.to_string())
        } else {
            match task {
                Task::Pytest => {
                    return Ok(Workers::Serial {
                        why: format!("default of `pytest`; set {ENV_VAR}=auto or N for parallel"),
                    })
                }
                Task::PytestParallel => {
                    let req = match config.workers.value {
                        WorkersSetting::Auto => Request::Auto,
                        WorkersSetting::Count(n) => Request::Count(n.clamp(1, MAX_WORKERS) as u16),
                    };
                    (req, "parallel.workers in testing.toml".to_string())
                }
            }
        };
    Ok(match request {
        Request::Count(1) => Workers::Serial {
            why: format!("{origin}=1"),
        },
        Request::Count(n) => Workers::Parallel {
            n,
            why: format!("{origin}={n}"),
        },
        Request::Auto => {
            let usable = cpus();
            let n = usable.count.min(MAX_WORKERS as usize) as u16;
            if n <= 1 {
                Workers::Serial {
                    why: format!("{origin}=auto, but only 1 usable CPU: {}", usable.source),
                }
            } else {
                Workers::Parallel {
                    n,
                    why: format!("{origin}=auto: {}", usable.source),
                }
            }
        }
    })
}

/// How many CPUs this process may really use, and what limited it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableCpus {
    pub count: usize,
    pub source: String,
}

/// The usable CPUs of this process on this machine.
pub fn usable_cpus() -> UsableCpus {
    usable_cpus_from(Path::new("/"), affinity_count())
}

/// The usable CPUs given a file-system root (for `/proc/self/cgroup` and
/// `/sys/fs/cgroup`) and the affinity count; tests pass fake roots.
pub fn usable_cpus_from(root: &Path, affinity: Option<usize>) -> UsableCpus {
    let affinity = affinity.unwrap_or(1).max(1);
    match cgroup_quota(root) {
        Some(quota) if quota.cpus < affinity => UsableCpus {
            count: quota.cpus.max(1),
            source: format!(
                "cgroup CPU quota {} ({}) is below the {affinity} CPUs in the affinity mask",
                quota.cpus, quota.detail
            ),
        },
        Some(quota) => UsableCpus {
            count: affinity,
            source: format!(
                "{affinity} CPUs in the affinity mask (cgroup quota {} allows {})",
                quota.detail, quota.cpus
            ),
        },
        None => UsableCpus {
            count: affinity,
            source: format!("{affinity} CPUs in the affinity mask, no cgroup CPU quota"),
        },
    }
}

#[derive(Debug)]
struct Quota {
    cpus: usize,
    detail: String,
}

/// The tightest CPU quota on this process's cgroup or any ancestor.
fn cgroup_quota(root: &Path) -> Option<Quota> {
    let membership = std::fs::read_to_string(root.join("proc/self/cgroup")).ok()?;
    let mut best: Option<Quota> = None;
    let mut consider = |q: Quota| {
        if best.as_ref().is_none_or(|b| q.cpus < b.cpus) {
            best = Some(q);
        }
    };
    for line in membership.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if id == "0" && controllers.is_empty() {
            for dir in ancestors(&root.join("sys/fs/cgroup"), rel) {
                if let Some(q) = read_v2(&dir.join("cpu.max")) {
                    consider(q);
                }
            }
        } else if controllers.split(',').any(|c| c == "cpu") {
            for mount in ["sys/fs/cgroup/cpu,cpuacct", "sys/fs/cgroup/cpu"] {
                for dir in ancestors(&root.join(mount), rel) {
                    if let Some(q) = read_v1(&dir) {
                        consider(q);
                    }
                }
            }
        }
    }
    best
}

/// `base/rel`, then each parent of it up to `base` itself.
fn ancestors(base: &Path, rel: &str) -> Vec<PathBuf> {
    let mut dirs = vec![base.join(rel)];
    let mut current = Path::new(rel);
    while let Some(parent) = current.parent() {
        dirs.push(base.join(parent));
        current = parent;
    }
    dirs.dedup();
    dirs
}

fn quota_cpus(quota: i64, period: i64) -> Option<usize> {
    if quota <= 0 || period <= 0 {
        return None;
    }
    Some(((quota + period - 1) / period) as usize)
}

fn read_v2(path: &Path) -> Option<Quota> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut fields = text.split_whitespace();
    let quota = fields.next()?;
    let period: i64 = fields
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(100_000);
    if quota == "max" {
        return None;
    }
    let cpus = quota_cpus(quota.parse().ok()?, period)?;
    Some(Quota {
        cpus,
        detail: format!("cpu.max {quota}/{period}"),
    })
}

fn read_v1(dir: &Path) -> Option<Quota> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse::<i64>()
            .ok()
    };
    let quota = read("cpu.cfs_quota_us")?;
    let period = read("cpu.cfs_period_us").unwrap_or(100_000);
    let cpus = quota_cpus(quota, period)?;
    Some(Quota {
        cpus,
        detail: format!("cpu.cfs_quota_us {quota}/{period}"),
    })
}

/// The number of CPUs in this process's affinity mask.
fn affinity_count() -> Option<usize> {
    // SAFETY: `set` is a properly sized, zeroed cpu_set_t owned by this frame,
    // and sched_getaffinity writes at most `size_of::<cpu_set_t>()` bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            let n = libc::CPU_COUNT(&set);
            if n > 0 {
                return Some(n as usize);
            }
        }
    }
    std::thread::available_parallelism().ok().map(|n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_root(cgroup: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        std::fs::write(dir.path().join("proc/self/cgroup"), cgroup).unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        dir
    }

    #[test]
    fn cgroup_v2_quota_rounds_up() {
        let root = fake_root(
            "0::/ci/job\n",
            &[("sys/fs/cgroup/ci/job/cpu.max", "150000 100000\n")],
        );
        let cpus = usable_cpus_from(root.path(), Some(8));
        assert_eq!(cpus.count, 2);
        assert!(
            cpus.source.contains("cgroup CPU quota 2"),
            "{}",
            cpus.source
        );
    }

    #[test]
    fn cgroup_v2_max_means_affinity() {
        let root = fake_root("0::/\n", &[("sys/fs/cgroup/cpu.max", "max 100000\n")]);
        let cpus = usable_cpus_from(root.path(), Some(6));
        assert_eq!(cpus.count, 6);
        assert!(cpus.source.contains("affinity"));
    }

    #[test]
    fn cgroup_v2_ancestor_quota_applies() {
        let root = fake_root(
            "0::/a/b\n",
            &[
                ("sys/fs/cgroup/a/b/cpu.max", "max 100000\n"),
                ("sys/fs/cgroup/a/cpu.max", "300000 100000\n"),
            ],
        );
        assert_eq!(usable_cpus_from(root.path(), Some(16)).count, 3);
    }

    #[test]
    fn cgroup_v1_quota() {
        let root = fake_root(
            "4:cpu,cpuacct:/docker/abc\n",
            &[
                (
                    "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us",
                    "50000\n",
                ),
                (
                    "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us",
                    "100000\n",
                ),
            ],
        );
        assert_eq!(usable_cpus_from(root.path(), Some(4)).count, 1);
        let unlimited = fake_root(
            "4:cpu,cpuacct:/\n",
            &[
                ("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n"),
                ("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n"),
            ],
        );
        assert_eq!(usable_cpus_from(unlimited.path(), Some(4)).count, 4);
    }

    #[test]
    fn no_cgroup_files_means_affinity() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(usable_cpus_from(dir.path(), Some(3)).count, 3);
    }

    fn two() -> UsableCpus {
        UsableCpus {
            count: 2,
            source: "test".into(),
        }
    }

    #[test]
    fn semantics_table() {
        let cfg = Parallel::default();
        let r = |task, env: Option<&str>| resolve(task, None, env, &cfg, &two);
        assert!(matches!(
            r(Task::Pytest, None).unwrap(),
            Workers::Serial { .. }
        ));
        assert!(matches!(
            r(Task::Pytest, Some("")).unwrap(),
            Workers::Serial { .. }
        ));
        assert!(matches!(
            r(Task::Pytest, Some("1")).unwrap(),
            Workers::Serial { .. }
        ));
        assert_eq!(r(Task::Pytest, Some("auto")).unwrap().count(), 2);
        assert_eq!(r(Task::Pytest, Some("3")).unwrap().count(), 3);
        assert_eq!(r(Task::PytestParallel, None).unwrap().count(), 2);
        assert_eq!(r(Task::PytestParallel, Some(" ")).unwrap().count(), 2);
        assert!(matches!(
            r(Task::PytestParallel, Some("1")).unwrap(),
            Workers::Serial { .. }
        ));
        assert_eq!(r(Task::PytestParallel, Some("512")).unwrap().count(), 512);
        for bad in ["abc", "0", "-2", "99999", "2x", "513", "1.5"] {
            let err = r(Task::Pytest, Some(bad)).unwrap_err().to_string();
            assert!(err.contains(&format!("PYTEST_WORKERS=`{bad}`")), "{err}");
            assert!(
                err.contains("expected `auto` or a whole number from 1 to 512"),
                "{err}"
            );
        }
    }

    #[test]
    fn flag_beats_environment() {
        let cfg = Parallel::default();
        let w = resolve(Task::Pytest, Some("4"), Some("1"), &cfg, &two).unwrap();
        assert_eq!(w.count(), 4);
        assert!(w.to_string().contains("--workers"));
    }

    #[test]
    fn auto_with_one_cpu_is_serial() {
        let cfg = Parallel::default();
        let one = || UsableCpus {
            count: 1,
            source: "one".into(),
        };
        assert!(matches!(
            resolve(Task::PytestParallel, None, None, &cfg, &one).unwrap(),
            Workers::Serial { .. }
        ));
    }
}
