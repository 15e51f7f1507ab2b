"""Layout: form controls stay inside their panels at desktop and phone widths.

Regression: the portfolio's "Add a holding" size select grew to its longest
option ("Travis Scott x Jordan 1 Retro Low OG ... size 12") and spilled out
of its panel on a desktop window.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from .conftest import PageWatch
from .support import Rest, Server
from .test_pages import open_page


@pytest.mark.parametrize("width", [1280, 390])
def test_add_holding_form_fits_its_panel(
    page: Page, watch: PageWatch, server: Server, rest: Rest, width: int
) -> None:
    key = rest.account(f"layout-{width}").key
    page.set_viewport_size({"width": width, "height": 900})
    open_page(page, server, "#/portfolio", key)

    panel = page.locator("section[aria-labelledby=add-h]").bounding_box()
    assert panel is not None
    right = panel["x"] + panel["width"]
    controls = page.locator("section[aria-labelledby=add-h] select, "
                            "section[aria-labelledby=add-h] input")
    assert controls.count() >= 3
    for i in range(controls.count()):
        box = controls.nth(i).bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= right, (
            f"control {i} ends at {box['x'] + box['width']:.0f}px, its panel at {right:.0f}px"
        )
