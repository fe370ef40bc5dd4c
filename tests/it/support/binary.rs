//! The real `axon serve` binary in a child process, every port 0, for what only a process
//! shows: its command line, its working directory, its signals.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Child, axon_serve_command, stderr_lines};

/// A running `axon serve`, killed on drop so a failing test leaves no process behind.
pub struct Binary {
    pub child: Child,
    /// The traffic address, as a client on this machine reaches it.
    pub http: String,
    /// The management API's address.
    pub management: String,
    /// Everything the process printed on stderr so far.
    pub printed: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    /// Starts `axon serve --http-port 0 --management-port 0` with `args` in `cwd`
    /// and waits for its "Axon is listening" line; panics with what it printed otherwise.
    pub fn serve(cwd: &Path, args: &[&str]) -> Binary {
        Self::serve_env(cwd, args, &[])
    }

    /// As [`Binary::serve`], with environment variables.
    pub fn serve_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Binary {
        let mut child = Child(
            axon_serve_command("info")
                .args(args)
                .current_dir(cwd)
                .envs(env.iter().copied())
                .spawn()
                .expect("spawn axon"),
        );
        let lines = stderr_lines(&mut child);
        let printed = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log = printed.clone();
        std::thread::spawn(move || {
            for line in lines {
                if line.contains("Axon is listening") {
                    tx.send(line.clone()).ok();
                }
                log.lock().expect("log").push(line);
            }
        });
        let mut binary = Binary {
            child,
            http: String::new(),
            management: String::new(),
            printed,
        };
        let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
            panic!("axon did not start; it printed:\n{}", binary.output());
        };
        binary.http = field(&line, "http_addr").replace("0.0.0.0", "127.0.0.1");
        binary.management = field(&line, "management_addr").replace("0.0.0.0", "127.0.0.1");
        binary
    }

    /// What the process printed so far, one line each.
    pub fn output(&self) -> String {
        self.printed.lock().expect("log").join("\n")
    }

    /// Sends SIGTERM, as an orchestrator stopping the pod does.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `within` for the process to exit, returning its status.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "axon did not exit; it printed:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The value of `name=` in a log line.
fn field(line: &str, name: &str) -> String {
    let start = line
        .find(&format!("{name}="))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + name.len()
        + 1;
    line[start..]
        .split_whitespace()
        .next()
        .expect("value")
        .to_owned()
}
