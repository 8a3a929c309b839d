"""What a product's save checks of the images it names (the gallery's and the description's): each a
verified upload, shown once in the gallery. Apart from the uploads' use cases (``mall.services.media``:
signing, inspecting, thumbnails), which the console's products never run."""

from __future__ import annotations

from mall.dal.media import MediaUploadRepository
from mall.domain import media as rules
from mall.errors import FieldProblem


def unverified_images(uploads: MediaUploadRepository, images: list[str],
                      more: list[tuple[str, str]] | None = None) -> list[FieldProblem]:
    """A problem per image reference a product may not use: anything but the key of a verified upload.
    ``more``: other (field, key) references checked in the same read (the description's images)."""
    refs = [(f"images.{i}", ref) for i, ref in enumerate(images)] + list(more or [])
    ids = {name: rules.upload_id_of(ref) for name, ref in refs}
    verified = uploads.verified(u for u in ids.values() if u)
    return [FieldProblem(name, "not a verified media-bucket image: upload it with POST /admin/media/uploads"
                         if u else "must be a media-bucket key from POST /admin/media/uploads, not a URL or path")
            for name, u in ids.items() if u is None or u not in verified]


def duplicate_images(images: list[str]) -> list[FieldProblem]:
    """The gallery shows each image once: a repeat is refused, naming the later one."""
    seen: set[str] = set()
    problems: list[FieldProblem] = []
    for i, ref in enumerate(images):
        if ref in seen:
            problems.append(FieldProblem(f"images.{i}", "this image is already in the gallery"))
        seen.add(ref)
    return problems
