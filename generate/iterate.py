"""Iterating on a sketch: refine it with an instruction, vary it ("more like this"), edit an image.

A refinement or variation is a **child run**: a new run folder whose sketches revise one sketch of
a parent run. Its ``metadata.json`` records ``parent {run_id, index, instruction, kind}`` and
``iteration {kind, path, reason, ...}``, so a chain of refinements is a tree of runs
(:func:`generate.runs.run_tree`).

Two ways to send a refinement (``iteration.path``):

* ``multi_turn`` — the parent's conversation continues: its user turn (prompt and the references it
  carried, rebuilt as the first call built them), its model turn (the chosen image, as the bytes the
  model returned, with its thought signature exactly as received; thought parts are left out: they
  carry no signature and would be paid for again as input; an earlier final image the model also
  drew is left out with its unsigned text, so the turn never starts with an unsigned text part, which
  the Gemini API refuses), then the new user turn (the
  instruction and the sketch rules). Used when the parent was made by the same model, that model
  can continue a conversation, and its image was signed.
* ``edit`` — the parent sketch goes in as the image to edit, with the instruction. Used for a
  parent made by another model, by ``trace``, or without a signature (older runs), and for
  ``generate --image`` (the designer's own image, ``kind: edit``, no parent run). The reason is
  recorded.

:func:`plan_iteration` is where every check happens, before any call and before any file is
written: unknown run, index out of range, a parent sketch that failed, an empty or over-long
instruction each raise :class:`ConfigError` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from generate.adapter import HistoryPart, HistoryTurn, ImageModelAdapter
from generate.errors import ConfigError
from generate.metadata import history_turn
from generate.runs import load_run, run_dir, run_file
from generate.validation import field_bounds, human_message
from prompt.spec import PromptSpec, SketchVariation
from prompt.variation import EXAGGERATION_LEVELS, LAYOUTS, MIN_SKETCHES, plan_variations, variation_block

__all__ = [
    "MAX_INSTRUCTION_CHARS",
    "IterateRequest",
    "RefineRequest",
    "VaryRequest",
    "IterationPlan",
    "ParentSketch",
    "load_parent",
    "plan_iteration",
    "plan_edit",
]

MAX_INSTRUCTION_CHARS = 1000
TRACE_IGNORES_TEXT = (
    "trace ignores the {text}: it re-traces the {what} under each sketch's layout and "
    "exaggeration (a tracing aid, not an image editor)"
)


class IterateRequest(BaseModel):
    """A child run of one sketch. ``None`` fields take the parent run's values."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1, max_length=40, description="The parent run")
    index: int = Field(ge=0, description="Which sketch of the parent run (0-based)")
    instruction: str = Field(default="", max_length=MAX_INSTRUCTION_CHARS, description="What to change")
    kind: Literal["refine", "vary"] = "refine"
    num_images: int = Field(default=1, ge=1, le=6, description="1-6 sketches in the child run")
    model: str | None = Field(default=None, description="Default: the model that made the parent")
    seed: int | None = Field(default=None, description="Default: the parent's seed")
    previews: bool = False

    @field_validator("instruction")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @classmethod
    def parse(cls, data: dict[str, Any], *, labels: dict[str, str] | None = None) -> IterateRequest:
        """Validate ``data``; one ConfigError naming the first bad field (as the caller's user knows it)."""
        try:
            request = cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = ".".join(str(p) for p in err["loc"]) or "request"
            label = (labels or {}).get(name, name)
            raise ConfigError(human_message(err, label, field_bounds(cls, name)), field=name) from None
        request.check()
        return request

    def check(self) -> None:
        if self.kind == "refine" and not self.instruction:
            raise ConfigError("instruction must not be empty: say what to change", field="instruction")


class RefineRequest(IterateRequest):
    """Revise one sketch with an instruction (``sketchgen refine RUN_ID INDEX "..."``)."""

    kind: Literal["refine"] = "refine"


class VaryRequest(IterateRequest):
    """More like one sketch: same subject and design, new layouts and exaggeration (``sketchgen vary``)."""

    kind: Literal["vary"] = "vary"
    num_images: int = Field(default=4, ge=1, le=6, description="1-6 sketches in the child run")


@dataclass
class ParentSketch:
    """One sketch of an earlier run, read from its metadata."""

    run_id: str
    index: int
    folder: Path
    meta: dict[str, Any]
    record: dict[str, Any]

    @property
    def path(self) -> Path:
        return self.folder / self.record["file"]

    @property
    def model(self) -> str:
        return str(self.record.get("model") or (self.meta.get("model") or {}).get("used") or "")


def load_parent(run_id: str, index: int, root: Path | str | None = None) -> ParentSketch:
    """The parent sketch; ConfigError (field run_id / index) if it is unknown, out of range or failed."""
    try:
        folder = run_dir(run_id, root)
        meta = load_run(run_id, root)
    except KeyError:
        raise ConfigError(f"no run {run_id!r} (see `sketchgen runs`)", field="run_id") from None
    records = meta.get("sketches") or []
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(records):
        raise ConfigError(
            f"run {run_id} has sketches 0-{len(records) - 1}; there is no sketch {index}", field="index"
        )
    record = records[index]
    if record.get("status") != "completed" or not record.get("file"):
        why = (record.get("error") or {}).get("message") or record.get("status")
        raise ConfigError(
            f"sketch {index} of run {run_id} did not complete ({why}); choose a completed sketch",
            field="index",
        )
    if run_file(folder, str(record["file"])) is None:  # nor a link to a file outside the run
        raise ConfigError(f"sketch {index} of run {run_id}: {record['file']} is missing", field="index")
    return ParentSketch(run_id=run_id, index=index, folder=folder.resolve(), meta=meta, record=record)


@dataclass
class IterationPlan:
    """What the generator needs to make a child run (or an edit run): per-sketch prompts, the
    images to edit or the history to continue, and the lineage recorded in metadata."""

    kind: str  # refine | vary | edit
    path: str  # multi_turn | edit
    reason: str
    variations: list[SketchVariation] | None = None  # None: the ordinary variation plan
    input_images: tuple[Path, ...] = ()
    history: tuple[HistoryTurn, ...] = ()
    references: tuple[Path, ...] | None = None  # None: what retrieval found
    parent: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def lineage(self) -> dict[str, Any]:
        """The ``parent`` and ``iteration`` entries of the run's metadata."""
        return {
            "parent": self.parent,
            "kind": self.kind,
            "path": self.path,
            "reason": self.reason,
            "input_images": [str(p) for p in self.input_images],
            "history_turns": len(self.history),
            "warnings": list(self.warnings),
            **self.details,
        }


# -- prompts --------------------------------------------------------------------------------------
def _rules(spec: PromptSpec) -> str:
    bullets = "\n".join(f"- {r}" for r in spec.visual_rules)
    avoid = "\n".join(f"- {r}" for r in spec.negative_constraints)
    return (
        f"SKETCH RULES (always)\n{bullets}\n\nAVOID\n{avoid}\n\n"
        "OUTPUT\n- a single image containing exactly one sketch, on a plain white background"
    )


def _subject(path: str) -> str:
    return "the sketch above" if path == "multi_turn" else "the image given"


def _refine_prompt(spec, instruction, var, i, n, path) -> str:
    take = f"Sketch {i + 1} of {n}" + (
        " — each take may interpret the change a little differently." if n > 1 else "."
    )
    return (
        f"REVISION of {_subject(path)}: {instruction}\n"
        "Change only what the instruction asks; keep the subject, its design, the pose and the "
        f"composition ({var['layout']}, {var['exaggeration']} exaggeration) otherwise.\n\n"
        f"{_rules(spec)}\n\n{take}"
    )


def _vary_prompt(spec, instruction, layout, level, i, n, path) -> str:
    also = f"\nAlso: {instruction}" if instruction else ""
    return (
        f"MORE LIKE THIS: keep the subject and design of {_subject(path)} (the same character or "
        "object, its key features and proportions) and draw a new variation of it with the layout "
        f"and exaggeration below.{also}\n\n{_rules(spec)}\n\n{variation_block(i, n, layout, level)}"
    )


def _variation(i: int, layout: str, level: str, prompt: str) -> SketchVariation:
    return SketchVariation(
        index=i,
        layout=layout if layout in LAYOUTS else "centered-hero",
        layout_description=LAYOUTS.get(layout, LAYOUTS["centered-hero"]),
        exaggeration=level if level in EXAGGERATION_LEVELS else "moderate",
        exaggeration_description=EXAGGERATION_LEVELS.get(level, EXAGGERATION_LEVELS["moderate"]),
        prompt=prompt,
    )


# -- the path, and the history it sends -----------------------------------------------------------------
def _choose_path(parent: ParentSketch, adapter: ImageModelAdapter) -> tuple[str, str]:
    if not adapter.capabilities.refinement:
        return "edit", (
            f"model {adapter.name} cannot continue a conversation; the parent sketch is sent as the image to edit"
        )
    if parent.model != adapter.name:
        return "edit", (
            f"the parent sketch was made by {parent.model or 'an unknown model'}, not {adapter.name}: a "
            "thought signature only counts for the model that made it, so the sketch is sent as an image to edit"
        )
    if parent.record.get("sheet"):
        return "edit", (
            "the parent sketch is a cell of a sheet (the model's signature covers the whole sheet), so it "
            "is sent as an image to edit"
        )
    turn = parent.record.get("model_turn") or {}
    chosen = [p for p in turn.get("parts") or [] if p.get("chosen")]
    if not chosen or not chosen[0].get("thought_signature"):
        return "edit", (
            "the parent sketch has no thought signature (the model did not sign it, or it was made before "
            "sketchgen kept signatures), so it is sent as an image to edit"
        )
    source = str(chosen[0].get("file") or "")
    # A plain name inside the parent's folder, never a path read from anywhere else.
    if Path(source).name != source or run_file(parent.folder, source) is None:
        return "edit", f"the model's own image {chosen[0].get('file')} is missing from run {parent.run_id}"
    return "multi_turn", "the conversation continues: the parent image goes back with its thought signature"


def parent_history(parent: ParentSketch) -> tuple[HistoryTurn, ...]:
    """The conversation up to and including the parent sketch's model turn (oldest first)."""
    rec = parent.record
    turns = [history_turn(t) for t in rec.get("history") or []]
    turns.append(
        HistoryTurn(
            role="user",
            text=rec.get("prompt") or "",
            reference_images=tuple(Path(p) for p in rec.get("references") or []),
            subject_images=tuple(Path(p) for p in rec.get("input_images") or []),
        )
    )
    parts = []
    in_draft = False  # after a final image that was not chosen, until the next image
    for p in (rec.get("model_turn") or {}).get("parts") or []:
        if (p.get("thought") and not p.get("chosen")) or p.get("kind") not in ("image", "text"):
            # See the module docstring: thought parts are not sent back, except the chosen image
            # when the only final image came flagged thought=True (docs/gemini-api-facts.md §9.2).
            continue
        if p.get("kind") == "image":
            in_draft = not p.get("chosen")
            if in_draft:
                continue  # only the chosen image was kept
            parts.append(
                HistoryPart(
                    image=parent.folder / p["file"],
                    mime_type=p.get("sniffed_mime_type") or p.get("mime_type"),
                    thought_signature=p.get("thought_signature"),
                )
            )
        elif in_draft and not p.get("thought_signature"):
            # The text about a draft image that is left out goes with it: left in, it could become
            # the turn's first part, which the Gemini API wants signed (docs/gemini-api-facts.md §9.3).
            continue
        else:
            parts.append(HistoryPart(text=p.get("text") or "", thought_signature=p.get("thought_signature")))
    turns.append(HistoryTurn(role="model", parts=tuple(parts)))
    return tuple(turns)


# -- plans ------------------------------------------------------------------------------------------
def plan_iteration(
    request: IterateRequest, parent: ParentSketch, spec: PromptSpec, adapter: ImageModelAdapter, style=None
) -> IterationPlan:
    """The child run's plan: path (multi_turn or edit), per-sketch prompts, history or input image."""
    request.check()
    path, reason = _choose_path(parent, adapter)
    n = request.num_images
    var = parent.record.get("variation") or {}
    if request.kind == "refine":
        variations = [
            _variation(
                i,
                var.get("layout", "centered-hero"),
                var.get("exaggeration", "moderate"),
                _refine_prompt(spec, request.instruction, var, i, n, path),
            )
            for i in range(n)
        ]
    else:
        # The ordinary plan's layouts and levels (planned for at least 3, so 1-2 still differ).
        planned = plan_variations(spec, max(n, MIN_SKETCHES), request.seed, style=style)[:n]
        variations = [
            _variation(
                i,
                v.layout,
                v.exaggeration,
                _vary_prompt(spec, request.instruction, v.layout, v.exaggeration, i, n, path),
            )
            for i, v in enumerate(planned)
        ]
    warnings = []
    if not adapter.capabilities.network and adapter.capabilities.requires_reference:
        warnings.append(TRACE_IGNORES_TEXT.format(text="instruction text", what="parent sketch"))
    refs = tuple(Path(p) for p in parent.record.get("references") or [])
    return IterationPlan(
        kind=request.kind,
        path=path,
        reason=reason,
        variations=variations,
        input_images=(parent.path,) if path == "edit" else (),
        history=parent_history(parent) if path == "multi_turn" else (),
        # A multi-turn request already carries the references in its first turn.
        references=() if path == "multi_turn" else refs,
        parent={
            "run_id": parent.run_id,
            "index": parent.index,
            "instruction": request.instruction,
            "kind": request.kind,
            "file": parent.record.get("file"),
            "model": parent.model,
        },
        warnings=warnings,
    )


EDIT_NOTE = (
    "EDIT: the image given is the designer's own drawing or photo and is the subject of this sketch. "
    "Keep its subject, design and key features; redraw it as a rough concept sketch under the rules "
    "above, with this sketch's layout and exaggeration."
)


def plan_edit(images: list[Path], adapter: ImageModelAdapter, checked: list[dict[str, Any]]) -> IterationPlan:
    """``generate --image``: the designer's image is the subject of every sketch of a first run."""
    warnings = []
    if not adapter.capabilities.network and adapter.capabilities.requires_reference:
        warnings.append(TRACE_IGNORES_TEXT.format(text="brief's words", what="given image"))
    return IterationPlan(
        kind="edit",
        path="edit",
        reason="the designer's own image is sent as the subject to redraw",
        input_images=tuple(images),
        warnings=warnings,
        details={"inputs": checked, "prompt_note": EDIT_NOTE},
    )
