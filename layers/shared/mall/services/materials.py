"""Materials center (素材中心): the merchant's texts, backgrounds and templates (rules:
``mall.domain.materials``; records: ``mall.dal.materials``), and the promoter's list of them with
their own share link filled in. Drawing a poster on a template: ``mall.services.material_posters``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mall.api.cursor import CursorCodec
from mall.clock import iso
from mall.config import MediaSettings
from mall.dal.audit import AuditEntry
from mall.dal.materials import MATERIALS_LIST, MaterialRepository, layout_item, material_from_item, material_state
from mall.dal.media import MediaUploadRepository
from mall.dal.objects import ObjectStore
from mall.domain import media as image_rules
from mall.domain.materials import (
    Material,
    TemplateLayout,
    fill_placeholders,
    layout_problems,
    placeholder_problems,
)
from mall.domain.posters import Box, check_copy
from mall.domain.referral import share_target
from mall.errors import FieldProblem, InvalidInput, NotFound
from mall.ids import new_id
from mall.schemas.materials import (
    LayoutModel,
    MaterialCreate,
    MaterialPage,
    MaterialUpdate,
    MaterialView,
    PromoterMaterial,
    PromoterMaterialList,
)
from mall.services.promotion_media import PromoterReader, active_promoter

#: How long a preview URL in a list works.
PREVIEW_TTL_SECONDS = 3600


@dataclass(frozen=True)
class MaterialEdit:
    """Who changes the materials center, from where, when."""

    by: str
    source_ip: str | None
    now: datetime


@dataclass(frozen=True)
class MaterialSources:
    """What a save checks against: the verified uploads, the banned phrases in force, the bucket (previews)."""

    materials: MaterialRepository
    uploads: MediaUploadRepository
    banned_phrases: Callable[[], tuple[str, ...]]
    store: ObjectStore


def _layout(model: LayoutModel) -> TemplateLayout:
    def box(b: Any) -> Box:
        return Box(b.x, b.y, b.width, b.height)

    return TemplateLayout(qr=box(model.qr), title=box(model.title), price=box(model.price),
                          nickname=box(model.nickname) if model.nickname else None, text_color=model.text_color)


def preview_url(store: ObjectStore, image_key: str | None) -> str | None:
    """A temporary URL of the image's 750 px copy (the original when it has none): signed locally, no I/O."""
    if not image_key:
        return None
    key = image_rules.thumbnail_key(image_key, image_rules.PAGE_THUMBNAIL) or image_key
    return store.presigned_url(key, expires_in=PREVIEW_TTL_SECONDS)


def material_view(material: Material, store: ObjectStore) -> MaterialView:
    return MaterialView(material_id=material.material_id, kind=material.kind, title=material.title,
                        product_id=material.product_id, text=material.text, image_key=material.image_key,
                        background_id=material.background_id,
                        layout=LayoutModel.model_validate(layout_item(material.layout)) if material.layout else None,
                        enabled=material.enabled, version=material.version,
                        image_url=preview_url(store, material.image_key),
                        created_at=iso(material.created_at) if material.created_at else None,
                        updated_at=iso(material.updated_at) if material.updated_at else None)


def _checked(material: Material, sources: MaterialSources) -> Material:
    """The material as it may be saved, or 422 naming the field: what its kind needs, no banned
    phrase in its title or text, known placeholders, a verified background image, a layout that fits."""
    required = {"text": "text", "background": "image_key", "template": "background_id"}[material.kind]
    if getattr(material, required) is None:
        raise InvalidInput(f"a {material.kind} material needs `{required}`", code="validation_error",
                           fields=[FieldProblem(required, f"required for a {material.kind}")])
    if material.kind == "template" and material.layout is None:
        raise InvalidInput("a template needs `layout`", code="validation_error",
                           fields=[FieldProblem("layout", "required for a template")])
    stray = [f for f, v in (("text", material.text), ("image_key", material.image_key),
                            ("background_id", material.background_id), ("layout", material.layout))
             if v is not None and f != required and not (f == "layout" and material.kind == "template")
             and not (f == "image_key" and material.kind == "template")]
    if stray:
        raise InvalidInput(f"a {material.kind} material has no `{stray[0]}`", code="validation_error",
                           fields=[FieldProblem(f, f"not used by a {material.kind}") for f in stray])
    check_copy({"title": material.title, "text": material.text}, sources.banned_phrases(), single_line=("title",))
    problems = placeholder_problems("text", material.text)
    if material.layout is not None:
        problems += layout_problems(material.layout)
    if problems:
        raise InvalidInput("the material cannot be saved as sent", code="validation_error", fields=problems)
    if material.kind == "background":
        upload_id = image_rules.upload_id_of(material.image_key or "")
        if upload_id is None or upload_id not in sources.uploads.verified([upload_id]):
            raise InvalidInput("the background is not a verified upload", code="validation_error",
                               fields=[FieldProblem("image_key", "not a verified media-bucket image: upload it "
                                                                 "with POST /admin/media/uploads and verify it")])
    if material.kind == "template":
        background = sources.materials.get(material.background_id or "")
        if background is None or background.kind != "background":
            raise InvalidInput("no such background", code="validation_error",
                               fields=[FieldProblem("background_id", "not a background material")])
        # The template keeps the background's image: a background's image never changes, and a
        # poster then needs no second read.
        material = replace(material, image_key=background.image_key)
    return material


def _audit(action: str, material_id: str, edit: MaterialEdit, before: Material | None, after: Material,
           ) -> AuditEntry:
    return AuditEntry(action=action, actor=edit.by, entity_type="material", entity_id=material_id,
                      source_ip=edit.source_ip, before=material_state(before) if before else None,
                      after=material_state(after), details={"version": after.version})


def create_material(body: MaterialCreate, *, edit: MaterialEdit, sources: MaterialSources) -> MaterialView:
    draft = Material(material_id=new_id("mat"), kind=body.kind, title=body.title, product_id=body.product_id,
                     text=body.text, image_key=body.image_key,
                     background_id=body.background_id, layout=_layout(body.layout) if body.layout else None,
                     enabled=body.enabled, created_at=edit.now, updated_at=edit.now, created_by=edit.by)
    material = _checked(draft, sources)
    saved = sources.materials.create(material, audit=_audit("material.create", material.material_id, edit, None,
                                                            material), now=edit.now)
    return material_view(saved, sources.store)


def update_material(material_id: str, body: MaterialUpdate, *, edit: MaterialEdit,
                    sources: MaterialSources) -> MaterialView:
    current = sources.materials.get(material_id)
    if current is None:
        raise NotFound(f"no material {material_id}", code="material_not_found")
    sent = body.model_fields_set
    changed = replace(
        current,
        title=body.title if body.title is not None else current.title,
        text=body.text if "text" in sent and body.text is not None else current.text,
        background_id=body.background_id if body.background_id is not None else current.background_id,
        layout=_layout(body.layout) if body.layout is not None else current.layout,
        enabled=body.enabled if body.enabled is not None else current.enabled,
        version=body.version + 1, updated_at=edit.now)
    material = _checked(changed, sources)
    saved = sources.materials.update(material, expected_version=body.version,
                                     audit=_audit("material.update", material_id, edit, current, material),
                                     now=edit.now)
    return material_view(saved, sources.store)


def get_material(material_id: str, *, materials: MaterialRepository, store: ObjectStore) -> MaterialView:
    material = materials.get(material_id)
    if material is None:
        raise NotFound(f"no material {material_id}", code="material_not_found")
    return material_view(material, store)


@dataclass(frozen=True)
class MaterialQuery:
    product_id: str | None
    general: bool
    kind: str | None
    limit: int
    cursor: str | None


def list_materials(query: MaterialQuery, *, materials: MaterialRepository, store: ObjectStore,
                   cursors: CursorCodec) -> MaterialPage:
    if query.general and query.product_id is not None:
        raise InvalidInput("ask for a product's materials or the general ones, not both", code="validation_error",
                           fields=[FieldProblem("query:general", "not with product_id")])
    if query.kind is not None and query.product_id is None and not query.general:
        raise InvalidInput("filter by kind within a product or the general ones", code="validation_error",
                           fields=[FieldProblem("query:kind", "needs product_id or general=true")])
    start = cursors.decode(query.cursor, partition=MATERIALS_LIST)
    page = materials.page(product_id=query.product_id, general=query.general, kind=query.kind, limit=query.limit,
                          start_key=start)
    return MaterialPage(items=[material_view(material_from_item(i), store) for i in page.items],
                        next_cursor=cursors.encode(page.last_key))


def promoter_materials(*, user_id: str, product_id: str | None, promoters: PromoterReader,
                       materials: MaterialRepository, store: ObjectStore,
                       settings: MediaSettings) -> PromoterMaterialList:
    """GET /promoter/materials: the enabled texts (filled with the caller's own share link, code and
    nickname) and templates for a product, then the general ones. Backgrounds are ingredients of
    templates, not offered on their own."""
    promoter = active_promoter(promoters, user_id)
    target = share_target(settings.share_page, promoter.code)
    items: list[PromoterMaterial] = []
    for material in materials.offered(product_id):
        if material.kind == "text":
            text = fill_placeholders(material.text or "", share_link=target.link, code=promoter.code,
                                     nickname=promoter.nickname)
            items.append(PromoterMaterial(material_id=material.material_id, kind="text", title=material.title,
                                          product_id=material.product_id, text=text, preview_url=None,
                                          version=material.version))
        elif material.kind == "template":
            items.append(PromoterMaterial(material_id=material.material_id, kind="template", title=material.title,
                                          product_id=material.product_id, text=None,
                                          preview_url=preview_url(store, material.image_key),
                                          version=material.version))
    return PromoterMaterialList(items=items)
