//! The blocking adapter: plain std threads and sockets, no async runtime.

use rocketwire_core::ClientConfig;
use rocketwire_examples::{master, namesrv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = rocketwire_blocking::Client::start(ClientConfig::new(vec![namesrv()]))?;
    let route = client.query_route("TBW102")?;
    println!("TBW102 is served by {:?}", master(&route));
    client.shutdown(std::time::Duration::from_secs(5))?;
    Ok(())
}
