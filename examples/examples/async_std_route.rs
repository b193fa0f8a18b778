//! The async-std adapter.

use rocketwire_core::ClientConfig;
use rocketwire_examples::{master, namesrv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    async_std::task::block_on(async {
        let client =
            rocketwire_async_std::Client::start(ClientConfig::new(vec![namesrv()])).await?;
        let route = client.query_route("TBW102").await?;
        println!("TBW102 is served by {:?}", master(&route));
        client.shutdown(std::time::Duration::from_secs(5)).await?;
        Ok(())
    })
}
