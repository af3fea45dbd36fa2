//! A demo backend for the README example: answers every request with its name, the request
//! line and the headers it received. Usage: `pingress-demo-backend NAME ADDR`.

use std::process::ExitCode;
use std::thread;

use pingress_testkit::{Backend, Behaviour};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, addr] = args.as_slice() else {
        eprintln!("usage: pingress-demo-backend NAME ADDR   (e.g. blue 127.0.0.1:9001)");
        return ExitCode::from(2);
    };
    match Backend::start_on(name, addr, Behaviour::Echo) {
        Ok(backend) => {
            eprintln!("demo backend {name} listening on {}", backend.addr());
            loop {
                thread::park();
            }
        }
        Err(e) => {
            eprintln!("demo backend {name}: cannot listen on {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}
