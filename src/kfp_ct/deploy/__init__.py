"""Deploy targets: `none`, `local` (a KServe model server on this machine), `kserve` (a cluster)."""
