//! Plain object access under a bucket/prefix (list, get, put, delete) for callers that are not a
//! sync: the files of an S3 backup repository (its key and lock files, and the snapshots lempctl
//! writes in-process). Credentials from the AWS chain, like restic.

use anyhow::{Context, Result};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;

/// `bucket` and a key prefix (no leading or trailing slash) at an S3 endpoint.
pub(crate) struct Objects {
    client: Client,
    bucket: String,
    prefix: String,
}

impl Objects {
    /// From `http(s)://host[:port]/bucket[/prefix]`, the form of restic's `s3:` URLs lempctl accepts.
    pub(crate) async fn from_url(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").context("an http(s) URL")?;
        let mut parts = rest.splitn(3, '/');
        let host = parts.next().unwrap_or_default();
        let bucket = parts
            .next()
            .filter(|b| !b.is_empty())
            .context("a bucket in the URL")?;
        let prefix = parts
            .next()
            .unwrap_or_default()
            .trim_matches('/')
            .to_owned();
        let endpoint = format!("{scheme}://{host}");
        let region = std::env::var("AWS_DEFAULT_REGION")
            .or_else(|_| std::env::var("AWS_REGION"))
            .unwrap_or_else(|_| "us-east-1".to_owned());
        let spec = super::SyncSpec {
            bucket: bucket.to_owned(),
            prefix: None,
            region,
            // restic addresses AWS by virtual host and other servers by path
            path_style: !host.ends_with("amazonaws.com"),
            endpoint: Some(endpoint),
            source: Default::default(),
            credentials: super::Credentials::Chain,
        };
        Ok(Self {
            client: super::remote::client(&spec).await,
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// Names of the objects under `dir` (relative to it, at any depth).
    pub(crate) async fn list(&self, dir: &str) -> Result<Vec<String>> {
        Ok(self
            .list_sized(dir)
            .await?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }

    /// Names (relative to `dir`, at any depth) and sizes of the objects under `dir`.
    pub(crate) async fn list_sized(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        let base = format!("{}/", self.key(dir));
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&base)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| anyhow::anyhow!("listing {base}: {}", DisplayErrorContext(e)))?;
            for o in page.contents() {
                if let Some(name) = o.key().and_then(|k| k.strip_prefix(&base)) {
                    let size = o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                    out.push((name.to_owned(), size));
                }
            }
        }
        Ok(out)
    }

    /// `length` bytes of `name` from `offset`.
    pub(crate) async fn get_range(&self, name: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        let end = (offset + length).saturating_sub(1);
        self.fetch(name, Some(format!("bytes={offset}-{end}")))
            .await
    }

    /// The size of `name`, `None` when there is no such object.
    pub(crate) async fn size_of(&self, name: &str) -> Result<Option<u64>> {
        let key = self.key(name);
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(
                o.content_length()
                    .and_then(|l| u64::try_from(l).ok())
                    .unwrap_or(0),
            )),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("reading {key}: {}", DisplayErrorContext(e))),
        }
    }

    pub(crate) async fn get(&self, name: &str) -> Result<Vec<u8>> {
        self.fetch(name, None).await
    }

    /// The object `name`, or the HTTP `range` of it.
    async fn fetch(&self, name: &str, range: Option<String>) -> Result<Vec<u8>> {
        let key = self.key(name);
        let o = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .set_range(range)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("reading {key}: {}", DisplayErrorContext(e)))?;
        Ok(o.body
            .collect()
            .await
            .with_context(|| format!("reading {key}"))?
            .to_vec())
    }

    pub(crate) async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let key = self.key(name);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("writing {key}: {}", DisplayErrorContext(e)))?;
        Ok(())
    }

    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        let key = self.key(name);
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("deleting {key}: {}", DisplayErrorContext(e)))?;
        Ok(())
    }
}
