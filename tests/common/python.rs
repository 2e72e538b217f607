//! The Python scripts of `tests/python` as real clients and origins (the `websockets` and
//! `grpcio` packages), run with the venv that `tests/run-all.sh` makes from the pinned
//! `tests/python/requirements.txt` (`target/test-venv`; env `MTLS_PROXY_PYTHON` names another
//! interpreter). A missing venv or package is a skip, a failure under
//! `MTLS_PROXY_REQUIRE_TOOLS=1` (see `tools`).
//!
//! Scripts speak JSON lines on stdout; their stderr is kept for failure messages. Every child
//! is killed when its handle is dropped, and every wait is bounded so a hang fails the test.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::tools;

/// Longest wait for one line from a script (a guard against hangs, not a speed assertion).
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// A Python interpreter that has the packages a test needs.
#[derive(Debug, Clone)]
pub struct Python {
    exe: PathBuf,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl Python {
    /// The test venv's interpreter if it imports every module of `modules`; else a skip
    /// naming what is missing.
    pub fn with(modules: &[&str]) -> Option<Python> {
        let exe = match std::env::var_os("MTLS_PROXY_PYTHON") {
            Some(p) => PathBuf::from(p),
            None => repo().join("target/test-venv/bin/python"),
        };
        if !exe.is_file() {
            return tools::skip(&format!(
                "the test venv {} (made by tests/run-all.sh)",
                exe.display()
            ));
        }
        for module in modules {
            let ok = std::process::Command::new(&exe)
                .args(["-c", &format!("import {module}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return tools::skip(&format!("python package {module}"));
            }
        }
        Some(Python { exe })
    }

    /// Start `tests/python/{script}` with `args`.
    pub fn spawn<S: AsRef<OsStr>>(&self, script: &str, args: &[S]) -> Script {
        let mut child = Command::new(&self.exe)
            .arg(repo().join("tests/python").join(script))
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        let stderr_task = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf).await {
                let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
                sink.lock().unwrap().push_str(&text);
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        Script {
            name: script.to_string(),
            stdin: child.stdin.take(),
            lines: BufReader::new(stdout).lines(),
            child,
            stderr,
            stderr_task: Some(stderr_task),
        }
    }
}

/// A running script.
pub struct Script {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
    stderr_task: Option<tokio::task::JoinHandle<()>>,
}

impl Script {
    /// The next JSON line on stdout.
    pub async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(LINE_TIMEOUT, self.lines.next_line()).await;
        let line = match line {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => self.fail("ended without the expected output").await,
            Ok(Err(e)) => self.fail(&format!("stdout: {e}")).await,
            Err(_) => {
                self.fail(&format!("printed nothing for {LINE_TIMEOUT:?}"))
                    .await
            }
        };
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", self.name))
    }

    /// The next line whose `event` is `event`, skipping others.
    pub async fn event(&mut self, event: &str) -> Value {
        loop {
            let v = self.next().await;
            eprintln!("{} said {v}", self.name);
            if v["event"] == event {
                return v;
            }
        }
    }

    /// Write one line to stdin.
    pub async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// The script's stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait for the exit (bounded) and return the status code.
    pub async fn exit(&mut self) -> Option<i32> {
        self.stdin.take();
        match tokio::time::timeout(LINE_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => self.fail("did not exit").await,
        }
    }

    async fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        if let Some(task) = self.stderr_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        panic!("{} {what}; stderr:\n{}", self.name, self.stderr())
    }
}
