//! Heat answering with server errors, against the real test OpenStack (tests/openstack/up.sh):
//! a proxy on 127.0.0.1 in front of the real heat-api (reached through the clouds.yaml's
//! `orchestration_endpoint_override`, openstacksdk's key) passes every request on, but answers
//! the first stack create and the first stack update with HTTP 500 `MessagingTimeout` *after*
//! Heat accepted them (the worst case: the operation runs, bridge is told it failed), and
//! answers some reads with a 500 without passing them on. The deploys still end with one stack
//! (read from Heat directly, not through the proxy), complete, with the changed value in the
//! template Heat holds.

#[path = "support/openstack.rs"]
mod os;
#[path = "support/peers.rs"]
mod peers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::sync::{Arc, Mutex};

use peers::text;

/// What the proxy did, for the assertions.
#[derive(Default)]
struct Log {
    /// Writes (method, path) answered with a 500 after Heat took them.
    swallowed: Vec<(String, String)>,
    /// Reads answered with a 500 without passing them on.
    refused_reads: usize,
    reads: usize,
    creates: usize,
    updates: usize,
    /// Swallow the next create / the next update (each once, then cleared).
    next_create: bool,
    next_update: bool,
}

/// Heat's own body for an RPC timeout between heat-api and heat-engine.
const HEAT_500: &str = r#"{"explanation": "The server has either erred or is incapable of performing the requested operation.", "code": 500, "error": {"message": "Timed out waiting for a reply to message ID 5e3c2b", "traceback": null, "type": "MessagingTimeout"}, "title": "Internal Server Error"}"#;

fn answer_500(client: &mut TcpStream) {
    let _ = write!(
        client,
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{HEAT_500}",
        HEAT_500.len()
    );
}

/// One request per connection (the proxy answers `Connection: close`).
fn serve(mut client: TcpStream, upstream: &str, log: &Mutex<Log>) {
    let mut reader = BufReader::new(match client.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut head = Vec::new();
    let mut len = 0usize;
    let mut first = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if first.is_empty() {
            first = line.trim_end().to_string();
            head.push(line);
            continue;
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            head.push(line);
        }
    }
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    // Which fault, if any: the create or update the test armed is swallowed after Heat took
    // it; every fourth read is refused (bridge repeats a read up to three times).
    let segments: Vec<&str> = path
        .split('?')
        .next()
        .unwrap_or_default()
        .split('/')
        .collect();
    let (swallow, refuse) = {
        let Ok(mut l) = log.lock() else { return };
        match method.as_str() {
            "POST" if segments.last() == Some(&"stacks") => {
                l.creates += 1;
                (std::mem::take(&mut l.next_create), false)
            }
            // PUT /v1/{project}/stacks/{name}/{id}
            "PUT" if segments.len() == 6 && segments[3] == "stacks" => {
                l.updates += 1;
                (std::mem::take(&mut l.next_update), false)
            }
            "GET" => {
                l.reads += 1;
                let r = l.reads % 4 == 0;
                if r {
                    l.refused_reads += 1;
                }
                (false, r)
            }
            _ => (false, false),
        }
    };
    if refuse {
        answer_500(&mut client);
        return;
    }
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return;
    };
    let mut out = head.concat();
    out.push_str("Connection: close\r\n\r\n");
    if up.write_all(out.as_bytes()).is_err() || up.write_all(&body).is_err() {
        return;
    }
    let mut resp = Vec::new();
    let _ = up.read_to_end(&mut resp);
    if swallow {
        if let Ok(mut l) = log.lock() {
            let status = String::from_utf8_lossy(&resp)
                .split(' ')
                .nth(1)
                .unwrap_or_default()
                .to_string();
            // Only a write Heat accepted counts as swallowed.
            if status.starts_with('2') {
                l.swallowed.push((method.clone(), path.clone()));
            }
        }
        answer_500(&mut client);
        return;
    }
    let _ = client.write_all(&resp);
}

fn start_proxy(upstream: &'static str) -> (u16, Arc<Mutex<Log>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let log: Arc<Mutex<Log>> = Arc::default();
    let l = log.clone();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            let l = l.clone();
            std::thread::spawn(move || serve(c, upstream, &l));
        }
    });
    (port, log)
}

/// Swallow the next create and/or update.
fn arm(log: &Mutex<Log>, create: bool, update: bool) {
    let mut l = log.lock().unwrap_or_else(|e| panic!("{e}"));
    l.next_create = create;
    l.next_update = update;
}

fn ok(o: &Output) -> String {
    let t = text(o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(!t.contains(os::SECRET), "the secret leaked:\n{t}");
    t
}

#[test]
fn heat_server_errors_on_create_update_and_reads_end_in_one_converged_stack() {
    let app = "it-os-faults";
    let (port, log) = start_proxy("127.0.0.1:8004");
    let yaml = os::app_yaml(app, "info", "");
    let dir = os::app_dir(app, &yaml);
    // The test cloud's clouds.yaml, with Heat reached through the proxy for bridge-demo.
    let clouds = std::fs::read_to_string(os::clouds_yaml()).unwrap_or_else(|e| panic!("{e}"));
    let at = clouds
        .find("  bridge-demo:\n")
        .unwrap_or_else(|| panic!("no bridge-demo entry in\n{clouds}"));
    let (a, b) = clouds.split_at(at);
    let b = b.replacen(
        "    interface: public\n",
        &format!(
            "    interface: public\n    orchestration_endpoint_override: http://127.0.0.1:{port}/v1/%(project_id)s\n"
        ),
        1,
    );
    let proxied = dir.join("clouds.yaml");
    std::fs::write(&proxied, format!("{a}{b}")).unwrap_or_else(|e| panic!("{e}"));
    let env = vec![
        (
            "OS_CLIENT_CONFIG_FILE".to_string(),
            proxied.display().to_string(),
        ),
        ("OS_CLOUD".to_string(), "bridge-demo".to_string()),
    ];
    // Heat itself, not through the proxy, for reading back.
    let direct = os::driver("bridge-demo", &dir);
    let rt = os::rt();
    let _ = os::run(&dir, &os::app_args("destroy", &[]), &env);

    arm(&log, true, false);
    let t = ok(&os::run(&dir, &os::app_args("deploy", &["--wait"]), &env));
    let stacks = rt.block_on(os::stacks(&direct, app));
    assert_eq!(stacks.len(), 1, "one stack, not two: {stacks:?}\n{t}");
    // Created once; after the lost answer bridge followed the create, then converged the
    // stack it found with an update of the same template (Heat changes nothing).
    assert!(
        ["CREATE_COMPLETE", "UPDATE_COMPLETE"].contains(&stacks[0].1.as_str()),
        "{stacks:?}\n{t}"
    );
    {
        let l = log.lock().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            l.swallowed.len(),
            1,
            "the create was accepted by Heat and answered 500: {:?}",
            l.swallowed
        );
        assert_eq!(l.swallowed[0].0, "POST");
        assert!(l.refused_reads > 0, "no read was refused");
        // The create was not sent a second time: the stack was looked up and followed.
        assert_eq!(l.creates, 1, "creates sent");
    }

    // An update Heat accepted but answered 500: the deploy follows it and ends complete, and
    // the template Heat holds has the new value.
    std::fs::write(dir.join("app.yaml"), os::app_yaml(app, "debug", ""))
        .unwrap_or_else(|e| panic!("{e}"));
    let updates = log.lock().map(|l| l.updates).unwrap_or_default();
    arm(&log, false, true);
    let t = ok(&os::run(&dir, &os::app_args("deploy", &["--wait"]), &env));
    let stacks = rt.block_on(os::stacks(&direct, app));
    assert_eq!(stacks.len(), 1, "{stacks:?}\n{t}");
    assert_eq!(stacks[0].1, "UPDATE_COMPLETE", "{t}");
    let (st, tpl) = rt
        .block_on(direct.request(
            reqwest::Method::GET,
            "orchestration",
            &format!("/stacks/{app}/{}/template", stacks[0].0),
            None,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st, 200, "{tpl}");
    assert!(
        tpl.to_string().contains("LOG_LEVEL=debug"),
        "the template Heat holds lacks the change:\n{tpl}"
    );
    {
        let l = log.lock().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.swallowed.len(), 2, "{:?}", l.swallowed);
        assert_eq!(l.swallowed[1].0, "PUT");
        // Sent again at most once, after the stack was seen settled.
        assert!(
            l.updates - updates <= 2,
            "{} updates sent",
            l.updates - updates
        );
    }
    let t = ok(&os::run(
        &dir,
        &os::app_args("plan", &["--detailed-exitcode"]),
        &env,
    ));
    assert!(t.contains("no changes"), "{t}");

    ok(&os::run(&dir, &os::app_args("destroy", &[]), &env));
    assert!(rt.block_on(os::stacks(&direct, app)).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
