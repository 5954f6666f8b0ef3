//! A rustic backend over S3 in restic's layout (`config`, `keys/`, `snapshots/`, `index/`,
//! `data/<2 hex>/<id>`), on the same client and URL forms as the rest of lempctl's S3 access.

use anyhow::Result;
use bytes::Bytes;
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};

use crate::services::s3::Objects;

pub(super) struct S3Backend {
    url: String,
    objects: Objects,
    rt: tokio::runtime::Runtime,
}

fn backend_err(what: &str, e: anyhow::Error) -> Box<RusticError> {
    RusticError::with_source(ErrorKind::Backend, what.to_owned(), format!("{e:#}"))
}

fn name(tpe: FileType, id: &Id) -> String {
    let hex = id.to_hex();
    let hex = hex.as_str();
    match tpe {
        FileType::Config => "config".to_owned(),
        FileType::Pack => format!("data/{}/{hex}", &hex[..2]),
        _ => format!("{}/{hex}", tpe.dirname()),
    }
}

impl S3Backend {
    pub(super) fn new(url: &str) -> Result<Self> {
        // several rustic threads read and write at once: a runtime with its own workers
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let objects = rt.block_on(Objects::from_url(url))?;
        Ok(Self {
            url: url.to_owned(),
            objects,
            rt,
        })
    }
}

impl ReadBackend for S3Backend {
    fn location(&self) -> String {
        format!("s3:{}", self.url)
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        if tpe == FileType::Config {
            let size = self
                .rt
                .block_on(self.objects.size_of("config"))
                .map_err(|e| backend_err("reading the repository config", e))?;
            return Ok(size
                .and_then(|s| u32::try_from(s).ok())
                .map(|s| vec![(Id::default(), s)])
                .unwrap_or_default());
        }
        let listed = self
            .rt
            .block_on(self.objects.list_sized(tpe.dirname()))
            .map_err(|e| backend_err("listing the repository", e))?;
        Ok(listed
            .into_iter()
            .filter_map(|(n, size)| {
                let id = n.rsplit('/').next()?.parse::<Id>().ok()?;
                Some((id, u32::try_from(size).ok()?))
            })
            .collect())
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        self.rt
            .block_on(self.objects.get(&name(tpe, id)))
            .map(Bytes::from)
            .map_err(|e| backend_err("reading from the repository", e))
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        self.rt
            .block_on(
                self.objects
                    .get_range(&name(tpe, id), u64::from(offset), u64::from(length)),
            )
            .map(Bytes::from)
            .map_err(|e| backend_err("reading from the repository", e))
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        name(tpe, id)
    }
}

impl WriteBackend for S3Backend {
    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        let mut buf = Vec::with_capacity(content.size());
        for b in content.into_vec() {
            buf.extend_from_slice(&b);
        }
        self.rt
            .block_on(self.objects.put(&name(tpe, id), buf))
            .map_err(|e| backend_err("writing to the repository", e))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        self.rt
            .block_on(self.objects.delete(&name(tpe, id)))
            .map_err(|e| backend_err("removing from the repository", e))
    }
}
