"""The one project image: every component and the serving runtime run in it."""

from kfp_ct import __version__

IMAGE_REPOSITORY = "ghcr.io/kfp-ct/kfp-ct"
IMAGE = f"{IMAGE_REPOSITORY}:{__version__}"
