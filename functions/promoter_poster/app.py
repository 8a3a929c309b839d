"""POST /promoter/posters — the caller's poster (商品海报) for a product: the product's image,
name and price, the caller's QR code and the merchant's logo, as a PNG behind a temporary URL; or,
with ``template_id``, on one of the merchant's templates (素材中心). GET /promoter/materials — the
materials center's texts (with the caller's own share link filled in) and templates for a product.

Drawn once per version of everything on it and kept in the media bucket; the only function
that loads Pillow."""

from __future__ import annotations

from typing import Annotated

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Query, error_response
from mall.clock import utc_now
from mall.config import get_settings
from mall.dal.catalog import ProductRepository
from mall.dal.materials import MaterialRepository
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.dal.wechat_tokens import ForceRefreshLease
from mall.domain.tokens import Role
from mall.errors import FieldProblem, InvalidInput
from mall.integrations.wechat import WeChatServerClient, server_client
from mall.schemas.materials import PromoterMaterialList
from mall.schemas.promotion_media import PosterRequest, PosterResponse
from mall.services.material_posters import DrawTemplatePoster, template_poster
from mall.services.materials import promoter_materials
from mall.services.media_bucket import media_settings, media_store
from mall.services.promotion_media import DrawPoster, product_poster

# Composition root: built once per cold start, shared by every invocation.
settings = get_settings()
media = media_settings()
table = main_table()
promoters = PromoterRepository(table)
products = ProductRepository(table)
distribution = SettingsRepository(table)
materials = MaterialRepository(table)
force_gate = ForceRefreshLease(table)
app = make_resolver()


def wechat() -> WeChatServerClient:
    return server_client(force_gate=force_gate)


def banned_phrases() -> tuple[str, ...]:
    return distribution.current().settings.all_banned_phrases()


@app.post("/promoter/posters", summary="The caller's poster for a product", tags=["promotion media"],
          **secured(Role.PROMOTER),
          responses={
              200: {"description": "a temporary URL of the poster PNG",
                    "content": {"application/json": {"model": PosterResponse}}},
              403: error_response("not an active promoter"),
              404: error_response("no such product on sale, or `template_not_found`"),
              422: error_response("invalid input, a product outside the distribution programme, a banned "
                                  "phrase in the poster text, or a template made for another product"),
              503: error_response("WeChat is unavailable"),
          })
def poster(body: PosterRequest) -> PosterResponse:
    if body.template_id is not None:
        if body.slogan is not None:
            raise InvalidInput("a template poster carries no slogan", code="validation_error",
                               fields=[FieldProblem("slogan", "not with template_id")])
        drawn = DrawTemplatePoster(user_id=current_principal(app).subject, product_id=body.product_id,
                                   template_id=body.template_id, now=utc_now())
        return template_poster(drawn, promoters=promoters, templates=materials, banned_phrases=banned_phrases,
                               store=media_store(), wechat=wechat, settings=media)
    command = DrawPoster(user_id=current_principal(app).subject, product_id=body.product_id, slogan=body.slogan,
                         now=utc_now())
    return product_poster(command, promoters=promoters, products=products, banned_phrases=banned_phrases,
                          store=media_store(), wechat=wechat, settings=media)


@app.get("/promoter/materials", summary="The materials center's texts and templates for a product",
         tags=["promotion media"], **secured(Role.PROMOTER),
         responses={403: error_response("not an active promoter")})
def materials_list(
        product_id: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                                description="the product's materials, then the general ones; "
                                                            "absent: the general ones only")] = None,
) -> PromoterMaterialList:
    return promoter_materials(user_id=current_principal(app).subject, product_id=product_id, promoters=promoters,
                              materials=materials, store=media_store(), settings=media)


handler = entrypoint(app)
