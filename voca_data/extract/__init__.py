"""The extractor: videos -> a complete store.

Modules, in the order the data flows:

* :mod:`~voca_data.extract.config` — :class:`ExtractConfig` (every content setting), devices;
* :mod:`~voca_data.extract.models` — encoders and face detectors, built once per process;
* :mod:`~voca_data.extract.prepare` — the CPU stage's work on one video (decode, faces, crops);
* :mod:`~voca_data.extract.encode` — the encoder stage's work on one block (batches, audio);
* :mod:`~voca_data.extract.pipeline` — CPU worker processes -> one encoder per device -> writer;
* :mod:`~voca_data.extract.blocks` — the synchronous reference path (voca 1's per-block task);
* :mod:`~voca_data.extract.schedule` — this node, or a ``dask.distributed`` cluster;
* :mod:`~voca_data.extract.create` — create / resume (settings checked) / finalize: :func:`extract`.

>>> from voca_data.extract import ExtractConfig, extract
>>> extract(records, "/data/LAV-DF", "lavdf.zarr", ExtractConfig(visual_weights="clip.bin"))  # doctest: +SKIP
"""

from .blocks import extract_block
from .config import ExtractConfig, resolve_device
from .create import SettingsMismatch, extract, finalize_store
from .encode import cosine_to_previous
from .models import audio_encoder, visual_encoder
from .pipeline import default_cpu_workers, run_pipeline
from .schedule import SCHEDULERS, extract_blocks

__all__ = ["ExtractConfig", "extract", "extract_block", "extract_blocks", "finalize_store",
           "resolve_device", "cosine_to_previous", "run_pipeline", "default_cpu_workers",
           "SettingsMismatch", "SCHEDULERS", "visual_encoder", "audio_encoder"]
