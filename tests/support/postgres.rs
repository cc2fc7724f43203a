//! The PostgreSQL server of the tests: its URL, one schema per test, and the rule for a
//! server that does not answer (CI fails; a local run skips, saying so once).

use std::io::Write;
use std::sync::Once;
use std::time::Duration;

use tower_breakwater::deferred::PostgresStore;

/// `BREAKWATER_TEST_POSTGRES`, or the development machine's server.
pub fn url() -> String {
    std::env::var("BREAKWATER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// One test's schema in the test database: dropped before use and by [`Pg::cleanup`].
pub struct Pg {
    pub url: String,
    pub schema: String,
}

impl Pg {
    /// A fresh schema for `test`, or `None` when no server answers outside CI (after one
    /// line on stderr for the whole test binary). Under `CI=true` a silent server fails the
    /// test: CI never skips these.
    pub async fn setup(test: &str) -> Option<Pg> {
        let pg = Pg {
            url: url(),
            schema: format!("bw_{test}_{}", std::process::id()),
        };
        match pg.admin().await {
            Ok(client) => {
                let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", pg.schema);
                client.batch_execute(&drop).await.unwrap();
                Some(pg)
            }
            Err(e) => {
                let cause =
                    std::error::Error::source(&e).map_or(String::new(), |s| format!(": {s}"));
                let why = format!("nothing answers at {} ({e}{cause})", pg.url);
                if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                    panic!("{why}; with CI=true the PostgreSQL tests must run, not skip");
                }
                static SAID: Once = Once::new();
                SAID.call_once(|| {
                    // Straight to stderr: the harness captures eprintln! of passing tests.
                    let _ = writeln!(
                        std::io::stderr(),
                        "note: PostgreSQL tests skipped: {why}; start it or set BREAKWATER_TEST_POSTGRES"
                    );
                });
                None
            }
        }
    }

    /// A store on this test's schema.
    pub async fn store(&self, pool_size: usize) -> PostgresStore {
        PostgresStore::builder(&self.url)
            .schema(&self.schema)
            .pool_size(pool_size)
            .connect()
            .await
            .unwrap()
    }

    /// Drop the schema and everything in it.
    pub async fn cleanup(self) {
        let client = self.admin().await.unwrap();
        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        client.batch_execute(&drop).await.unwrap();
    }

    async fn admin(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let mut config: tokio_postgres::Config = self.url.parse()?;
        config.connect_timeout(Duration::from_secs(3));
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }
}
