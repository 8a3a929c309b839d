"""The resolver every API function uses, and the Lambda entry point around it.

One function per endpoint: each handler module builds ``app = make_resolver()``, declares
its route(s), and exports ``handler = entrypoint(app)``."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from mall import errors
from mall.api.auth import AuthorisingValidation
from mall.api.errors import error_response, from_domain_error, from_validation_error
from mall.observability import logger, metrics, xray_tracer
from mall.runtime import init_gc
from mall.runtime.snapstart import install as install_snapstart_hooks

# Powertools' names a handler needs are re-exported: imported from here, they load the event handler's
# package lean (mall.api.lean_powertools).
__all__ = ["APIGatewayHttpResolver", "NotFoundError", "Response", "entrypoint", "logger", "make_resolver", "metrics"]


class MallResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver, documenting every route's success answer.

    Powertools documents the return annotation as the success response only when a route declares
    no ``responses``; a route that lists its errors would otherwise lose its success body. Here the
    success status (``status_code``, 200 by default) is added to ``responses`` when absent, without
    content, so Powertools fills it from the return annotation as it does for plain routes."""

    _ROUTE = inspect.signature(APIGatewayHttpResolver.route)

    def route(self, *args: Any, **kwargs: Any) -> Any:
        bound = self._ROUTE.bind(self, *args, **kwargs)
        responses = dict(bound.arguments.get("responses") or {})
        status = int(bound.arguments.get("status_code", HTTPStatus.OK))
        if responses and not any(200 <= int(code) < 300 for code in responses):
            responses[status] = {"description": bound.arguments.get("response_description")
                                 or HTTPStatus(status).phrase}
            bound.arguments["responses"] = responses
        return super().route(*bound.args[1:], **bound.kwargs)


def make_resolver() -> APIGatewayHttpResolver:
    # The OpenAPI security scheme is attached by tools/gen_openapi.py, not here: its models
    # cost ~65 ms of cold start and only the document generator needs them.
    app = MallResolver(enable_validation=True)
    # Powertools runs request validation before any route middleware; the role check must come
    # first (mall.api.auth), so it wraps the validation middleware itself.
    app._request_validation_middleware = AuthorisingValidation()  # type: ignore[no-untyped-call]

    @app.exception_handler(errors.DomainError)  # type: ignore[untyped-decorator]
    def _domain(exc: errors.DomainError) -> Response[str]:
        logger.info("request refused", extra={"error_code": exc.code})
        return from_domain_error(exc)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _validation(exc: RequestValidationError) -> Response[str]:
        return from_validation_error(exc)

    @app.not_found
    def _not_found(exc: NotFoundError) -> Response[str]:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(exc: Exception) -> Response[str]:
        # A 5xx is a bug: logged with the stack, counted, and answered without internals.
        logger.exception("unhandled error")
        metrics.add_metric(name="UnhandledErrors", unit="Count", value=1)
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error",
                              "something went wrong on our side; it has been logged")

    return app


def models_in(annotation: object) -> Iterator[type[BaseModel]]:
    """The models an annotation names, at any depth (Annotated, unions, containers)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in typing.get_args(annotation):
        yield from models_in(argument)


def build_route_models(app: APIGatewayHttpResolver) -> None:
    """Build, at cold start, the request and answer models of this function's own routes that are
    ``defer_build`` (a schema module's models for other functions and the merchant console are: a
    function that imports the module and never uses them does not build them). A function's own models
    are built at init as before, not on its first request: Lambda bills init like invocation time and
    the customer waits the same, and a SnapStart function's snapshot must hold them."""
    for route in app._static_routes + app._dynamic_routes:
        for hint in typing.get_type_hints(route.func, include_extras=True).values():
            for model in models_in(hint):
                if not model.__pydantic_complete__:
                    model.model_rebuild()


def entrypoint(app: APIGatewayHttpResolver, *,
               traced: bool = False) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda handler: correlation id from the API request id, metrics flushed; ``traced`` by the
    X-Ray SDK where template.yaml gives the function ``Tracing: Active`` (``mall.observability``)."""
    install_snapstart_hooks()  # run by Lambda only where template.yaml gives the function SnapStart
    build_route_models(app)

    @metrics.log_metrics  # no ColdStart metric: see mall.workers.worker_entrypoint
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(event, context)

    # Not the response as the handler subsegment's metadata (Powertools' default): it holds what the
    # caller was answered (payment signatures, amounts, addresses), which a trace must not keep.
    run = xray_tracer().capture_lambda_handler(handler, capture_response=False) if traced else handler
    wrapped: Callable[[dict[str, Any], LambdaContext], dict[str, Any]] = logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)(run)
    init_gc.resume()  # the handler module's last line: init is over
    return wrapped
