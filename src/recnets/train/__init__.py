"""Training: the loop, clipping (Book: 10.11.1), crash-safe checkpoints, the run folder's records."""
from recnets.train.checkpoint import (CheckpointError, LoadedCheckpoint, checkpoint_steps, latest_checkpoint,
                                      load_checkpoint, remove_unpublished, restore_rng_state, rng_state,
                                      save_checkpoint)
from recnets.train.clipping import clip_gradients, clip_gradients_lazily
from recnets.train.config import TrainConfig, learning_rate
from recnets.train.logbook import Logbook
from recnets.train.loop import EarlyStopping, Trainer, build_optimizer, evaluate_model, resolve_device, tbptt_chunks

__all__ = [
    "TrainConfig",
    "learning_rate",
    "Trainer",
    "evaluate_model",
    "EarlyStopping",
    "build_optimizer",
    "resolve_device",
    "tbptt_chunks",
    "clip_gradients",
    "clip_gradients_lazily",
    "CheckpointError",
    "LoadedCheckpoint",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "checkpoint_steps",
    "remove_unpublished",
    "rng_state",
    "restore_rng_state",
    "Logbook",
]
from recnets.train.distributed import (distributed_session, init_distributed, is_distributed, is_main, rank,
                                       shard_batch, world_size)

__all__ += ["distributed_session", "init_distributed", "is_distributed", "is_main", "rank", "shard_batch",
            "world_size"]
from recnets.train.config import AUTOCASTS
from recnets.train.loop import autocast_dtype

__all__ += ["AUTOCASTS", "autocast_dtype"]
