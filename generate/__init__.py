"""Orchestration and model adapters: :class:`ImageGenerator`, :class:`GenerationConfig` and friends."""

from generate.adapter import (
    AdapterCapabilities,
    Availability,
    ImageModelAdapter,
    ImageRequest,
    ModelFamily,
    ModelImage,
    ModelPreview,
    Usage,
    adapter_names,
    get_adapter,
    register_adapter,
    register_family,
)
from generate.errors import (
    ConfigError,
    CredentialsError,
    ErrorCode,
    ModelCallError,
    SketchgenError,
    StyleError,
)
from generate.events import (
    RunCompleted,
    RunEvent,
    RunStarted,
    SketchCompleted,
    SketchFailed,
    SketchPreview,
    SketchRetry,
    StageEvent,
)
from generate.generator import ImageGenerator
from generate.types import GenerationConfig, GenerationResult, SketchResult

__all__ = [
    "ImageGenerator",
    "GenerationConfig",
    "GenerationResult",
    "SketchResult",
    "ImageModelAdapter",
    "AdapterCapabilities",
    "ImageRequest",
    "ModelImage",
    "ModelPreview",
    "Usage",
    "get_adapter",
    "register_adapter",
    "adapter_names",
    "ModelFamily",
    "Availability",
    "register_family",
    "SketchgenError",
    "ConfigError",
    "CredentialsError",
    "StyleError",
    "ModelCallError",
    "ErrorCode",
    "RunEvent",
    "RunStarted",
    "StageEvent",
    "SketchPreview",
    "SketchRetry",
    "SketchCompleted",
    "SketchFailed",
    "RunCompleted",
]
