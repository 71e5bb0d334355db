//! What the black-box tests share.

use std::net::TcpListener;
use std::sync::Mutex;

/// A loopback port no other server of this test process was given (the system picks it).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    for _ in 0..100 {
        let Ok(port) = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
        else {
            continue;
        };
        if let Ok(mut given) = GIVEN.lock() {
            if !given.contains(&port) {
                given.push(port);
                return port;
            }
        }
    }
    panic!("no free port");
}
