//! The deployment's rule versions in Redis: the version in force (a
//! string every ingest watches), every activation (a list, newest first)
//! and the text of each version (a hash).

use deadpool_redis::redis::{self, AsyncCommands};

use super::super::rule_versions::Activation;
use super::{RedisStore, StoreError, corrupt, unavailable};

impl RedisStore {
    pub(super) async fn read_active_rules(&self) -> Result<Option<String>, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            conn.get(self.keys.rules_active())
                .await
                .map_err(unavailable)
        })
        .await
    }

    pub(super) async fn read_rules_history(&self) -> Result<Vec<Activation>, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            let raw: Vec<String> = conn
                .lrange(self.keys.rules_history(), 0, -1)
                .await
                .map_err(unavailable)?;
            raw.iter()
                .map(|r| serde_json::from_str(r).map_err(corrupt))
                .collect()
        })
        .await
    }

    pub(super) async fn read_rules_source(
        &self,
        version: &str,
    ) -> Result<Option<String>, StoreError> {
        self.timed(async {
            let mut conn = self.reader().await?;
            conn.hget(self.keys.rules_sources(), version)
                .await
                .map_err(unavailable)
        })
        .await
    }

    /// One transaction: the text (kept from the first time), the history
    /// line and the pointer every ingest watches.
    pub(super) async fn store_activation(
        &self,
        activation: Activation,
        source: &str,
    ) -> Result<(), StoreError> {
        let line = serde_json::to_string(&activation).map_err(corrupt)?;
        self.timed(async {
            let mut conn = self.conn().await?;
            let () = redis::pipe()
                .atomic()
                .hset_nx(self.keys.rules_sources(), &activation.version, source)
                .ignore()
                .lpush(self.keys.rules_history(), line)
                .ignore()
                .set(self.keys.rules_active(), &activation.version)
                .ignore()
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            self.replicated(&mut conn).await
        })
        .await
    }
}
