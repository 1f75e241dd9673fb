"""The whole run from a brief: style → prompt → references → sketches.

:class:`SketchPipeline` is what the CLI and the HTTP service call. It validates everything it can
*before* any model call (:meth:`SketchPipeline.validate` raises :class:`ConfigError` naming the
field), then compiles the prompt, retrieves references off the event loop, and drives
:class:`ImageGenerator`. Its event stream is the generator's, with the two pipeline stages
(``prompt_compiled``, ``references_retrieved``) reported right after ``run.started``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from generate.adapter import ImageModelAdapter, estimate_costs_of, families, get_adapter, input_load
from generate.budget import BudgetExceeded, CostCap, check_cost, planned_worst_case
from generate.errors import ConfigError, CredentialsError
from generate.events import RunEvent, drain
from generate.generator import ImageGenerator
from generate.inputs import check_image_file
from generate.iterate import (
    IterateRequest,
    IterationPlan,
    VaryRequest,
    load_parent,
    plan_edit,
    plan_iteration,
)
from generate.metadata import recorded_request_options
from generate.redact import redact_exception, redacts_exceptions
from generate.sheet_cut import SheetLayout
from generate.types import MAX_TIMEOUT_S, GenerationConfig, GenerationResult, default_output_root
from generate.validation import field_bounds, human_message
from prompt.compiler import PromptCompiler
from prompt.variation import plan_variations
from rag.files import list_style_images

__all__ = ["RunRequest", "SketchPipeline", "PreparedRun", "MAX_BRIEF_CHARS", "MAX_USER_REFERENCES"]

MAX_BRIEF_CHARS = 2000
MAX_USER_REFERENCES = 64  # a request-size guard; the model's own limit is checked in validate()
log = logging.getLogger("sketchgen.rag")


class RunRequest(BaseModel):
    """One run as the CLI and HTTP API describe it. ``None`` fields take the style's or model's default."""

    model_config = ConfigDict(extra="forbid")

    brief: str = Field(min_length=1, max_length=MAX_BRIEF_CHARS, description="What to sketch")
    style_id: str = Field(default="vintage-mascot", description="A style id from GET /styles")
    num_images: int | None = Field(default=None, ge=3, le=6, description="3-6; default: the style's")
    model: str = Field(
        default="auto",
        description="auto, trace, nano-banana, nano-banana-pro or a Gemini id; a fallback chain as a "
        "comma list or a list ('nano-banana-pro,trace')",
    )
    aspect_ratio: str | None = Field(default=None, description="e.g. 1:1, 3:4, 16:9; default: the style's")
    image_size: str = Field(default="1K", description="1K, 2K or 4K (what the model offers)")
    resolution: tuple[int, int] | None = Field(
        default=None, description="Exact output (width, height); default: the model's own pixels"
    )
    seed: int | None = Field(
        default=None,
        description="Same seed, same variation plan and trace output; sent to Gemini, best effort there",
    )
    response_modalities: str | list[str] = Field(
        default="text+image", description="'text+image' (default) or 'image' (image only)"
    )
    google_search: bool = Field(
        default=False, description="Ground the sketches in Google Search results (models that offer it)"
    )
    person_generation: str | None = Field(
        default=None, description="ALLOW_ALL, ALLOW_ADULT or ALLOW_NONE (Vertex AI only)"
    )
    top_k: int = Field(default=3, ge=0, le=14, description="How many reference images to retrieve")
    context: list[str] = Field(default_factory=list, description="Extra notes for the prompt")
    previews: bool = Field(
        default=False, description="Stream interim images (sketch.preview) where the model makes them"
    )
    allow_retired: bool = Field(
        default=False,
        description="Run a model past its shutdown date anyway (for an endpoint that still serves it)",
    )
    timeout_s: float | None = Field(
        default=None,
        le=MAX_TIMEOUT_S,
        allow_inf_nan=False,
        description="Per model call, in seconds (more than 0); default $SKETCHGEN_TIMEOUT_S, else 180",
    )
    image: str | None = Field(
        default=None,
        max_length=4096,
        description="Path of the designer's own drawing or photo: the subject every sketch redraws",
    )
    references: list[str] = Field(
        default_factory=list,
        max_length=MAX_USER_REFERENCES,
        description="Paths of extra reference images for this run, sent before what retrieval found",
    )
    max_cost_usd: CostCap = Field(
        default=None,
        allow_inf_nan=False,
        description="Refuse the run, before any call, if its worst-case cost in USD is over this (more than 0)",
    )
    sheet: str | None = Field(
        default=None,
        description="One call for a grid of sketches, cut into one sketch per cell: 2x2, 3x2, 2x3 or 3x3 "
        "(columns x rows; num_images is then the cell count)",
    )

    @field_validator("model", mode="before")
    @classmethod
    def _chain_list(cls, value: Any) -> Any:
        """A list of model names is the same fallback chain as their comma list."""
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return ",".join(v.strip() for v in value)
        return value

    @classmethod
    def parse(cls, data: dict[str, Any], *, labels: dict[str, str] | None = None) -> RunRequest:
        """Validate ``data``; bad input raises one ConfigError naming the first bad field.

        ``labels`` names fields the way the caller's user knows them (the CLI passes its flags).
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"][:1]) or "request"
            label = (labels or {}).get(where, where)
            raise ConfigError(human_message(err, label, field_bounds(cls, where)), field=where) from None

    @model_validator(mode="before")
    @classmethod
    def _sheet_count(cls, data: Any) -> Any:
        return SheetLayout.drop_matching_count(data)

    @field_validator("timeout_s")
    @classmethod
    def _timeout_positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:  # a message of its own: "at most 3600 (got 0)" misleads
            raise ValueError(f"must be more than 0 seconds (got {value:g})")
        return value

    @field_validator("brief")
    @classmethod
    def _brief_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("resolution", mode="before")
    @classmethod
    def _parse_resolution(cls, value: Any) -> Any:
        if isinstance(value, str):
            m = re.fullmatch(r"\s*(\d+)\s*[xX×,]\s*(\d+)\s*", value)
            if not m:
                raise ValueError("must look like 1024x1024 (width x height in pixels)")
            return int(m.group(1)), int(m.group(2))
        return value


def _reference_cap(adapter, subjects: int) -> int:
    """How many references a call may carry beside ``subjects`` images to edit: the model's image
    limit is for all its input images (docs/gemini-api-facts.md §9.1)."""
    return max(0, adapter.capabilities.max_reference_images - subjects)


@dataclass
class PreparedRun:
    """A validated run, ready to start. ``plan`` makes it a refine / vary / edit run; ``spec`` and
    ``retrieval`` are set when they come from a parent run instead of being compiled / retrieved."""

    request: RunRequest | IterateRequest
    style: Any
    config: GenerationConfig
    adapter: ImageModelAdapter
    warnings: list[str] = field(default_factory=list)  # dry runs: what a real run would stop at
    plan: IterationPlan | None = None
    spec: Any = None
    retrieval: Any = None
    user_references: tuple[Path, ...] = ()
    run_warnings: list[str] = field(default_factory=list)  # warnings the run itself will carry


class SketchPipeline:
    def __init__(
        self,
        registry=None,
        retriever=None,
        compiler: PromptCompiler | None = None,
        output_dir: Path | str | None = None,
    ) -> None:
        if registry is None:
            from style.registry import StyleRegistry

            registry = StyleRegistry()
        if retriever is None:
            from rag.retriever import ImageRetriever

            retriever = ImageRetriever()
        self.registry = registry
        self.retriever = retriever
        self.compiler = compiler or PromptCompiler()
        self.output_dir = output_dir

    # -- validation: everything that can be checked before a paid call ----------------------------
    @redacts_exceptions
    def validate(self, request: RunRequest | dict, *, dry_run: bool = False) -> PreparedRun:
        """Check the request and build its adapter; raises ConfigError (with ``field``) on bad input.

        ``dry_run=True``: the adapter is built for describing the run only, so missing credentials
        do not stop it (a dry run calls no model); they are listed in ``PreparedRun.warnings``.
        """
        if isinstance(request, dict):
            request = RunRequest.parse(request)
        style = self.registry.get_style(request.style_id)
        timeout = {"timeout_s": request.timeout_s} if request.timeout_s is not None else {}
        config = GenerationConfig(
            # A sheet's cell count is its num_images; the style's default would not fit it.
            num_images=request.num_images or (None if request.sheet else style.num_images),
            sheet=request.sheet,
            resolution=request.resolution,
            aspect_ratio=request.aspect_ratio or style.aspect_ratio,
            image_size=request.image_size,
            model_name=request.model,
            seed=request.seed,
            output_dir=self.output_dir,
            stream_previews=request.previews,
            response_modalities=request.response_modalities,
            google_search=request.google_search,
            person_generation=request.person_generation,
            max_cost_usd=request.max_cost_usd,
            **timeout,
        )
        if request.sheet and request.image:
            raise ConfigError(
                "sheet mode draws new sketches; it cannot redraw an image (leave out sheet or image)",
                field="sheet",
            )
        image = check_image_file(request.image, field="image") if request.image else None
        for ref in request.references:  # named as the user wrote them
            check_image_file(ref, field="references")
        refs = tuple(Path(p).resolve() for p in request.references)
        options: dict[str, Any] = {"allow_retired": True} if request.allow_retired else {}
        warnings: list[str] = []
        try:
            adapter = get_adapter(config.model_name, **options)
        except CredentialsError as exc:
            if not dry_run:
                raise
            adapter = get_adapter(config.model_name, **options, dry_run=True)
            warnings.append(f"a real run would stop: {exc.summary}")
        try:
            adapter.check_request(
                aspect_ratio=config.aspect_ratio, image_size=config.image_size, num_references=0
            )
            adapter.check_options(**config.request_options())
            if config.sheet:
                adapter.check_sheet(
                    SheetLayout.parse(config.sheet),
                    aspect_ratio=config.aspect_ratio,
                    image_size=config.image_size,
                )
            cap = _reference_cap(adapter, 1 if image is not None else 0)
            if len(refs) > cap:
                raise ConfigError(
                    f"{len(refs)} references given but {adapter.name} takes at most {cap}"
                    + (" beside the image to edit" if image is not None else ""),
                    field="references",
                )
            if config.max_cost_usd is not None:
                inputs = (Path(request.image),) if image is not None else ()
                worst = planned_worst_case(
                    adapter, config, references=request.top_k + len(refs), input_images=inputs
                )
                try:
                    check_cost(
                        worst,
                        config.max_cost_usd,
                        what=f"this {config.sheet} sheet of {config.num_images} sketches (one call)"
                        if config.sheet
                        else f"this run of {config.num_images} sketches",
                        model=adapter.name,
                    )
                except BudgetExceeded as exc:
                    if not dry_run:
                        raise
                    warnings.append(f"a real run would stop: {exc}")
        except BaseException:
            adapter.close()
            raise
        plan = None
        if image is not None:
            path = Path(request.image).resolve()
            plan = plan_edit([path], adapter, [{"path": str(path), "sha256": image.sha256}])
        elif (
            adapter.capabilities.requires_reference
            and not refs
            and not list_style_images(style.reference_dirs, style.do_not_use)
        ):
            dirs = ", ".join(str(d) for d in style.reference_dirs) or "(none listed)"
            raise ConfigError(
                f"model {adapter.name!r} draws over reference images and style {style.id!r} has none: "
                f"add images to {dirs}, or choose a Gemini model",
                field="model",
            )
        return PreparedRun(
            request=request,
            style=style,
            config=config,
            adapter=adapter,
            warnings=warnings,
            plan=plan,
            user_references=refs,
        )

    # -- iterating on a sketch --------------------------------------------------------------------
    @redacts_exceptions
    def prepare_iteration(self, request: IterateRequest | dict) -> PreparedRun:
        """Check a refine / vary request against its parent run and build the child run's plan.

        Raises ConfigError (field ``run_id``, ``index``, ``instruction``, ``num_images``, ...) for
        an unknown run, an index out of range, a failed parent sketch or a bad instruction,
        before any call and before anything is written. The child keeps the parent's style,
        prompt, aspect ratio, size and resolution; ``model`` defaults to the parent's.
        """
        from prompt.spec import PromptSpec
        from rag.types import RetrievalHit, RetrievalResult

        if isinstance(request, dict):
            request = (VaryRequest if request.get("kind") == "vary" else IterateRequest).parse(request)
        request.check()
        root = self.output_dir if self.output_dir is not None else default_output_root()
        parent = load_parent(request.run_id, request.index, root)
        meta = parent.meta
        style = self.registry.get_style(meta.get("style_id"))
        spec = PromptSpec.model_validate(meta["prompt_spec"])
        pconf = meta.get("config") or {}
        config = GenerationConfig(
            num_images=request.num_images,
            min_images=1,
            resolution=tuple(pconf["resolution"]) if pconf.get("resolution") else None,
            aspect_ratio=pconf.get("aspect_ratio") or style.aspect_ratio,
            image_size=pconf.get("image_size") or "1K",
            model_name=request.model or parent.model,
            seed=request.seed if request.seed is not None else pconf.get("seed"),
            output_dir=self.output_dir,
            stream_previews=request.previews,
            # The parent's request options go with its model (another model may not offer them).
            **(recorded_request_options(pconf) if request.model is None else {}),
        )
        adapter = get_adapter(config.model_name)
        try:
            adapter.check_request(
                aspect_ratio=config.aspect_ratio, image_size=config.image_size, num_references=0
            )
            adapter.check_options(**config.request_options())
            plan = plan_iteration(request, parent, spec, adapter, style)
        except BaseException:
            adapter.close()
            raise
        hits = [
            RetrievalHit(path=h["path"], score=h.get("score") or 0.0, sha256=h.get("sha256"))
            for h in (meta.get("retrieval") or {}).get("hits") or []
            if h.get("sent", True)
        ]
        retrieval = RetrievalResult(
            hits=hits,
            method="parent",
            embedder=(meta.get("retrieval") or {}).get("embedder"),
            reason=f"the references of parent run {parent.run_id}",
            style_id=style.id,
        )
        return PreparedRun(
            request=request,
            style=style,
            config=config,
            adapter=adapter,
            plan=plan,
            spec=spec,
            retrieval=retrieval,
        )

    def refine(self, request: IterateRequest | dict, on_event=None) -> GenerationResult:
        """A child run revising one sketch (blocking). ``request`` may be a RefineRequest or VaryRequest."""
        return self.run(self.prepare_iteration(request), on_event=on_event)

    async def arefine(self, request: IterateRequest | dict, on_event=None) -> GenerationResult:
        prepared = await asyncio.to_thread(self.prepare_iteration, request)
        return await self.arun(prepared, on_event=on_event)

    def vary(self, request: VaryRequest | dict, on_event=None) -> GenerationResult:
        """More like one sketch (blocking): a child run of ``kind: vary``."""
        if isinstance(request, dict):
            request = VaryRequest.parse(request)
        return self.refine(request, on_event=on_event)

    def _compile(self, prepared: PreparedRun):
        if prepared.spec is not None:
            return prepared.spec
        req = prepared.request
        return self.compiler.compile(req.brief, prepared.style, context=req.context or None)

    def _retrieve(self, prepared: PreparedRun, spec):
        if prepared.retrieval is not None:
            return prepared.retrieval
        from rag.types import RetrievalResult

        style, top_k = prepared.style, prepared.request.top_k
        result = (
            self.retriever.retrieve(spec, style, top_k=top_k)
            if top_k > 0
            else RetrievalResult.empty("top_k is 0", style_id=style.id)
        )
        if prepared.user_references:
            result = self._with_user_references(prepared, result)
        wanted = max(top_k, 1)
        if len(result.hits) >= wanted or not prepared.adapter.capabilities.requires_reference:
            return result
        # A model that draws over references (trace) can use any of the style's: when fewer matched
        # the brief than asked for, top up with the style's own in name order (score 0), and say so.
        from rag.files import unreadable_reason
        from rag.types import RetrievalHit

        have = {Path(h.path) for h in result.hits} | {Path(s["path"]) for s in result.skipped}
        extra: list[Path] = []
        skipped = list(result.skipped)
        for path in list_style_images(style.reference_dirs, style.do_not_use):
            if len(extra) >= wanted - len(result.hits):
                break
            if path in have:
                continue
            why = unreadable_reason(path)
            if why is None:
                extra.append(path)
            else:
                skipped.append({"path": str(path), "reason": why})
        if len(skipped) > len(result.skipped):
            names = ", ".join(f"{Path(s['path']).name} ({s['reason']})" for s in skipped)
            log.warning(
                "style %s: skipped %d unreadable reference file(s): %s", style.id, len(skipped), names
            )
        if not extra:
            return result.model_copy(update={"skipped": skipped})
        note = (
            f"{prepared.adapter.name} draws over references: {len(extra)} of the style's own added in name "
            "order because fewer matched the brief"
        )
        return RetrievalResult(
            hits=[*result.hits, *(RetrievalHit(path=p, score=0.0) for p in extra)],
            method=result.method if result.hits else "style-order",
            embedder=result.embedder,
            reason=f"{result.reason}; {note}" if result.reason else note,
            style_id=style.id,
            skipped=skipped,
        )

    @staticmethod
    def _with_user_references(prepared: PreparedRun, result):
        """The designer's ``references`` first, then retrieval's, capped at what the model takes;
        the reason names every retrieved reference left out."""
        from rag.types import RetrievalHit, RetrievalResult

        own = [RetrievalHit(path=p, score=1.0) for p in prepared.user_references]
        mine = {p for p in prepared.user_references}
        found = [h for h in result.hits if Path(h.path).resolve() not in mine]
        subjects = len(getattr(prepared.plan, "input_images", ()) or ())
        cap = _reference_cap(prepared.adapter, subjects)
        kept = (own + found)[:cap]
        left_out = (own + found)[cap:]
        note = f"{len(own)} of the designer's own references added first"
        if left_out:
            beside = " beside the image to edit" if subjects else ""
            warning = (
                f"{prepared.adapter.name} takes at most {cap} references{beside}, so these were left out: "
                + ", ".join(Path(h.path).name for h in left_out)
            )
            prepared.run_warnings.append(warning)
            note += f"; {warning}"
        return RetrievalResult(
            hits=kept,
            method=result.method,
            embedder=result.embedder,
            reason=f"{result.reason}; {note}" if result.reason else note,
            style_id=result.style_id,
        )

    @staticmethod
    def _stages(spec, retrieval) -> list[tuple[str, dict[str, Any]]]:
        return [
            (
                "prompt_compiled",
                {
                    "refined_intent": spec.refined_intent,
                    "token_estimate": spec.token_estimate,
                    "trimmed": spec.trimmed,
                    "compiler": spec.compiler,
                },
            ),
            (
                "references_retrieved",
                {
                    "method": retrieval.method,
                    "embedder": retrieval.embedder,
                    "reason": retrieval.reason,
                    "references": [
                        {"path": str(h.path), "name": Path(h.path).name, "score": round(h.score, 4)}
                        for h in retrieval.hits
                    ],
                    "skipped": list(retrieval.skipped),
                },
            ),
        ]

    # -- running ----------------------------------------------------------------------------------
    async def astream(self, request: RunRequest | PreparedRun | dict) -> AsyncIterator[RunEvent]:
        """Every event of the run. Closing this iterator (or cancelling its task) cancels the run."""
        prepared = request if isinstance(request, PreparedRun) else self.validate(request)
        stream = self._events(prepared, ImageGenerator(adapter=prepared.adapter))
        try:
            async for event in stream:
                yield event
        finally:
            await stream.aclose()

    async def _events(self, prepared: PreparedRun, generator: ImageGenerator) -> AsyncIterator[RunEvent]:
        try:
            spec = self._compile(prepared)
            retrieval = await asyncio.to_thread(self._retrieve, prepared, spec)
            stream = generator.astream_events(
                prompt_spec=spec,
                retrieval_result=retrieval,
                style=prepared.style,
                config=prepared.config,
                stages=self._stages(spec, retrieval),
                plan=prepared.plan,
                warnings=prepared.run_warnings,
            )
            try:
                async for event in stream:
                    yield event
            finally:
                await stream.aclose()
        except Exception as exc:  # to a library user: never with a secret in it
            redact_exception(exc)
            raise
        finally:
            await prepared.adapter.aclose()

    async def arun(self, request: RunRequest | PreparedRun | dict, on_event=None) -> GenerationResult:
        """Run to the end and return the result; cancelling the awaiting task cancels the run."""
        prepared = request if isinstance(request, PreparedRun) else self.validate(request)
        generator = ImageGenerator(adapter=prepared.adapter)
        await drain(self._events(prepared, generator), on_event)
        return generator.last_result

    def run(self, request: RunRequest | PreparedRun | dict, on_event=None) -> GenerationResult:
        """Blocking form of :meth:`arun` (Ctrl-C cancels pending calls and records the run cancelled)."""
        return asyncio.run(self.arun(request, on_event=on_event))

    # -- a batch of briefs (generate.batch) ---------------------------------------------------------
    async def arun_batch(
        self,
        rows_or_path: Any,
        *,
        defaults: dict[str, Any] | None = None,
        max_cost_usd: float | None = None,
        resume: str | None = None,
        parallel: int = 4,
        on_event=None,
    ):
        """One run per row of a ``.csv`` / ``.jsonl`` file or a list of dicts, every row checked
        first (:class:`generate.batch.BatchInvalid` lists each problem with its row), resumable
        from its manifest; returns a :class:`generate.batch_run.BatchResult`. See :mod:`generate.batch`."""
        from generate.batch import prepare_batch
        from generate.batch_run import arun_prepared

        batch = await asyncio.to_thread(
            prepare_batch,
            self,
            rows_or_path,
            defaults=defaults,
            max_cost_usd=max_cost_usd,
            resume=resume,
            parallel=parallel,
        )
        return await arun_prepared(batch, on_event=on_event)

    def run_batch(self, rows_or_path: Any, **options: Any):
        """Blocking form of :meth:`arun_batch`."""
        return asyncio.run(self.arun_batch(rows_or_path, **options))

    def dry_run(self, request: RunRequest | PreparedRun | dict) -> dict[str, Any]:
        """Everything a run would send, and what it would cost, without calling any model."""
        prepared = request if isinstance(request, PreparedRun) else self.validate(request, dry_run=True)
        spec = self._compile(prepared)
        retrieval = self._retrieve(prepared, spec)
        n = prepared.config.num_images
        it = prepared.plan
        if it is not None and it.variations is not None:
            plan = list(it.variations)
        else:
            plan = plan_variations(spec, n, prepared.config.seed, style=prepared.style, most=max(n, 6))
        # What each call would carry: the image(s) to edit, then the style references.
        it_refs = None if it is None or it.references is None else {Path(p) for p in it.references}
        hits = [h for h in retrieval.hits if it_refs is None or Path(h.path) in it_refs]
        subjects = tuple(it.input_images) if it is not None else ()
        references = tuple(Path(h.path) for h in hits[: prepared.adapter.capabilities.max_reference_images])
        # What else goes in as input: the image(s) to edit, or a refinement's whole history.
        extra_images, extra_chars = input_load(it.input_images, it.history) if it is not None else (0, 0)
        multi_turn = it is not None and it.path == "multi_turn"
        costs = [
            row
            for family in families()
            for row in estimate_costs_of(
                family,
                image_size=prepared.config.image_size,
                num_references=len(retrieval.hits),
                input_images=extra_images,
                input_text_chars=extra_chars,
                num_images=1 if prepared.config.sheet else n,  # a sheet is one call
                conversation_model=prepared.adapter.name if multi_turn else None,
                aspect_ratio=prepared.config.aspect_ratio,
            )
        ]
        return {
            "model": prepared.adapter.name,
            "model_reason": getattr(prepared.adapter, "selection_reason", None),
            "warnings": [*prepared.warnings, *getattr(prepared.adapter, "lifecycle_warnings", [])],
            "style_id": prepared.style.id,
            "num_images": n,
            "sheet": _dry_run_sheet(prepared, spec, plan),
            "aspect_ratio": prepared.config.aspect_ratio,
            "image_size": prepared.config.image_size,
            "prompt_spec": spec.model_dump(mode="json"),
            "options": {k: v for k, v in prepared.config.request_options().items()},
            "sketches": [
                {
                    "index": v.index,
                    "layout": v.layout,
                    "exaggeration": v.exaggeration,
                    "prompt": v.prompt,
                    "turn": prepared.adapter.turn_outline(v.prompt, subjects=subjects, references=references),
                }
                for v in plan
            ],
            "retrieval": {
                "method": retrieval.method,
                "embedder": retrieval.embedder,
                "reason": retrieval.reason,
                "references": [{"path": str(h.path), "score": round(h.score, 4)} for h in retrieval.hits],
                "skipped": list(retrieval.skipped),
            },
            "estimated_cost": costs,
            "iteration": it.lineage() if it is not None else None,
        }


def _dry_run_sheet(prepared: PreparedRun, spec, plan) -> dict[str, Any] | None:
    """A sheet run's one call: its layout and the exact prompt (checked like a real run)."""
    if not prepared.config.sheet:
        return None
    from generate.sheet import sheet_prompt

    layout = SheetLayout.parse(prepared.config.sheet)
    return {"layout": layout.name, "calls": 1, "prompt": sheet_prompt(spec.prompt_text, plan, layout)}
