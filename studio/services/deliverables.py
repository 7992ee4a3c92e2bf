"""Printouts a pre-production team hands out on day one: storyboard PDFs and shot lists (CSV, PDF).

The writers are pure functions over selector output (studio.selectors.deliverable_shots,
cut_deliverable_shots, script_outline) and return bytes or text. `panel_pictures` is the one
part that reads storage: a panel shows the take's poster, else a frame taken from its video by the
engine's ffmpeg layer (generation.media), else the shot's cast references side by side, else a
slate saying the shot is not rendered. reportlab writes the PDFs: it draws pages directly (no
browser engine, no system libraries such as Pango/Cairo that WeasyPrint needs), embeds TrueType
subsets so the text reads back, and is maintained.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import tempfile
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from django.conf import settings
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape, letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

from generation import media
from studio import media_store
from studio.models import CameraMove, ShotSize
from studio.selectors import DeliverableShot, ScriptOutline

logger = logging.getLogger(__name__)

# reportlab wraps every stream in ASCII85 by default, in pure Python: that took nine tenths of a
# storyboard's time (bench/bench_deliverables.py). Binary streams are what PDF readers expect.
rl_config.useA85 = 0

PAPERS = {"a4": landscape(A4), "letter": landscape(letter)}
LAYOUTS = {"2x3": (2, 3), "3x3": (3, 3)}  # rows × columns of panels per landscape page
PICTURE_WIDTH_PX = 640  # enough for a printed panel a third of a page wide, small enough to embed 100s
MARGIN, HEADER, FOOTER, GUTTER = 28.0, 44.0, 20.0, 10.0
# DejaVu (Debian's fonts-dejavu-core) covers Latin, Greek and Cyrillic; reportlab's own Vera is the
# fallback. Neither has CJK glyphs: such names print as boxes in the PDFs (the CSV keeps them).
FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("Vera.ttf", "VeraBd.ttf"),
)


@dataclass(frozen=True)
class Printout:
    """What every page of a printout says around its content."""

    title_block: dict[str, str]  # script title page (lower-case keys) or at least {"title": ...}
    subtitle: str  # "Storyboard · Scene 2: INT. LAMP ROOM - NIGHT", "Shot list", ...
    printed_on: date


# --- Fonts -------------------------------------------------------------------------------------

@cache
def fonts() -> tuple[str, str]:
    """(regular, bold) font names registered with reportlab: embedded TrueType, so text reads back."""
    for regular, bold in FONT_CANDIDATES:
        try:
            pdfmetrics.registerFont(TTFont("Deliverable", regular))
            pdfmetrics.registerFont(TTFont("Deliverable-Bold", bold))
        except Exception:  # reportlab raises TTFError or IOError for a missing or unreadable font
            continue
        return "Deliverable", "Deliverable-Bold"
    return "Helvetica", "Helvetica-Bold"


# --- Text of a shot ----------------------------------------------------------------------------

def camera_text(row: DeliverableShot) -> str:
    shot = row.shot
    size, move = ShotSize(shot.shot_size).label, CameraMove(shot.camera_move).label
    return f"{size} · {move} · {shot.lens_mm} mm · {seconds(shot.duration_s)} s"


def seconds(duration) -> str:
    """3.00 -> "3", 2.50 -> "2.5" (a DecimalField keeps its places; a spreadsheet needs none)."""
    return f"{Decimal(str(duration)).normalize():f}"


def description_text(row: DeliverableShot) -> str:
    """The shot's prompt as people read it (@handles as names), else its scene's action."""
    words = (w.lstrip("@").replace("_", " ") if w.startswith("@") else w for w in row.shot.prompt.split())
    return " ".join(words) or " ".join(row.shot.scene.action.split())


def dialogue_lines(row: DeliverableShot, outline: ScriptOutline) -> list[str]:
    parsed = outline.scene(row.shot.scene.heading)
    return [f"{speaker}: {' '.join(speech.split())}" for speaker, speech in (parsed.dialogue if parsed else [])]


def scene_label(scene) -> str:
    return f"{scene.scene_number} {scene.heading}".strip()


# --- Pictures ----------------------------------------------------------------------------------

def panel_pictures(rows: list[DeliverableShot], *, aspect: float) -> list[bytes]:
    """One JPEG per shot (see the module docstring for where it comes from). `aspect` is the
    project's height / width, the shape of a slate or a reference board."""
    return [_picture(row, aspect) for row in rows]


def _picture(row: DeliverableShot, aspect: float) -> bytes:
    take = row.take
    if take is not None:
        picture = _stored_picture(take.poster) or _frame_of(take.video)
        if picture:
            return picture
    return _reference_board(row, aspect) or _slate(row, aspect)


def _stored_path(field) -> Path | None:
    if not field:
        return None
    try:
        return media_store.local_file(field.name)  # fetched into the cache from a remote store
    except (media_store.MediaMissing, OSError):
        return None


def _stored_picture(field) -> bytes | None:
    path = _stored_path(field)
    return _jpeg_of(path) if path else None


def _jpeg_of(source) -> bytes | None:
    try:
        with Image.open(source) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            image.thumbnail((PICTURE_WIDTH_PX, PICTURE_WIDTH_PX))
            return _jpeg(image)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _frame_of(video_field) -> bytes | None:
    video = _stored_path(video_field)
    if video is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        try:
            frame = media.extract_frame(video, Path(folder) / "frame.jpg", timeout=settings.CONTINUITY_FFMPEG_TIMEOUT)
        except (media.MediaError, OSError) as exc:
            logger.warning("no frame from %s: %s", video.name, exc)
            return None
        return _jpeg_of(frame)


def _reference_board(row: DeliverableShot, aspect: float) -> bytes | None:
    """The primary reference image of each cast member (up to three) side by side."""
    primaries = (member.reference_images[0].image for member in row.shot.deliverable_cast if member.reference_images)
    paths = [path for path in map(_stored_path, primaries) if path][:3]
    width, height = PICTURE_WIDTH_PX, round(PICTURE_WIDTH_PX * aspect)
    slot = width // max(len(paths), 1)
    board = Image.new("RGB", (width, height), (28, 30, 34))
    placed = 0
    for path in paths:
        try:
            with Image.open(path) as image:
                tile = ImageOps.contain(image.convert("RGB"), (slot, height))
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            continue
        board.paste(tile, (placed * slot + (slot - tile.width) // 2, (height - tile.height) // 2))
        placed += 1
    return _jpeg(board) if placed else None


def _slate(row: DeliverableShot, aspect: float) -> bytes:
    image = Image.new("RGB", (PICTURE_WIDTH_PX, round(PICTURE_WIDTH_PX * aspect)), (58, 60, 66))
    draw = ImageDraw.Draw(image)
    draw.text((24, 24), f"{row.shot.code} · not rendered", fill=(235, 235, 235), font_size=36)
    return _jpeg(image)


# --- Storyboard PDF ----------------------------------------------------------------------------

def storyboard_pdf(printout: Printout, rows: list[DeliverableShot], pictures: list[bytes], outline: ScriptOutline, *,
                   paper: str = "a4", layout: str = "2x3") -> bytes:
    """A landscape storyboard: `layout` panels a page, each with its picture, shot code, scene
    heading, camera, duration and action/dialogue; the title block, date and page numbers."""
    page_size, (grid_rows, grid_cols) = PAPERS[paper], LAYOUTS[layout]
    per_page = grid_rows * grid_cols
    pages = max(1, math.ceil(len(rows) / per_page))
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=page_size, pageCompression=1)
    canvas.setTitle(f"{printout.title_block.get('title', '')} · {printout.subtitle}")
    for page in range(pages):
        _page_frame(canvas, printout, page_size, page + 1, pages)
        start = page * per_page
        for slot, (row, picture) in enumerate(zip(rows[start:start + per_page], pictures[start:start + per_page])):
            _panel(canvas, row, picture, outline, _cell(page_size, grid_rows, grid_cols, slot), small=grid_rows > 2)
        if not rows:
            canvas.setFont(fonts()[0], 12)
            canvas.drawString(MARGIN, page_size[1] / 2, "No shots yet.")
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _page_frame(canvas: Canvas, printout: Printout, page_size, page: int, pages: int | None) -> None:
    """Title block across the top, page number ("Page n of m", unless m is not known yet) and date
    along the bottom."""
    width, height = page_size
    regular, bold = fonts()
    block = printout.title_block
    canvas.setFont(bold, 14)
    canvas.drawString(MARGIN, height - MARGIN - 12, block.get("title", ""))
    canvas.setFont(regular, 9)
    canvas.drawString(MARGIN, height - MARGIN - 26, printout.subtitle)
    right = [" · ".join(v for v in (block.get("credit", ""), block.get("author", "")) if v),
             f"Draft: {block['draft date']}" if block.get("draft date") else ""]
    for n, text in enumerate(t for t in right if t):
        canvas.drawRightString(width - MARGIN, height - MARGIN - 10 - 12 * n, " ".join(text.split()))
    canvas.setStrokeColor(colors.grey)
    canvas.line(MARGIN, height - MARGIN - HEADER + 8, width - MARGIN, height - MARGIN - HEADER + 8)
    canvas.setFont(regular, 8)
    canvas.drawString(MARGIN, MARGIN - 8, f"Printed {printout.printed_on.isoformat()}")
    if pages:
        canvas.drawRightString(width - MARGIN, MARGIN - 8, f"Page {page} of {pages}")


def _cell(page_size, grid_rows: int, grid_cols: int, slot: int) -> tuple[float, float, float, float]:
    """(x, y, width, height) of panel `slot`, row by row from the top left."""
    width, height = page_size
    cell_w = (width - 2 * MARGIN - (grid_cols - 1) * GUTTER) / grid_cols
    cell_h = (height - 2 * MARGIN - HEADER - FOOTER - (grid_rows - 1) * GUTTER) / grid_rows
    row, col = divmod(slot, grid_cols)
    top = height - MARGIN - HEADER
    return MARGIN + col * (cell_w + GUTTER), top - (row + 1) * cell_h - row * GUTTER, cell_w, cell_h


def _panel(canvas: Canvas, row: DeliverableShot, picture: bytes, outline: ScriptOutline, cell, *, small: bool) -> None:
    x, y, w, h = cell
    regular, bold = fonts()
    size = 7 if small else 8
    leading = size * 1.25
    picture_h = min(w * 9 / 16, h * 0.6)
    canvas.setStrokeColor(colors.black)
    canvas.rect(x, y + h - picture_h, w, picture_h)
    canvas.drawImage(ImageReader(io.BytesIO(picture)), x, y + h - picture_h, w, picture_h, preserveAspectRatio=True,
                     anchor="c")
    cursor = y + h - picture_h - leading
    canvas.setFont(bold, size + 1)
    canvas.drawString(x, cursor, _fit(f"{row.shot.code} · {scene_label(row.shot.scene)}", bold, size + 1, w))
    cursor -= leading
    canvas.setFont(regular, size)
    canvas.drawString(x, cursor, _fit(f"{camera_text(row)} · {row.status}", regular, size, w))
    texts = [description_text(row), *dialogue_lines(row, outline)]
    lines = [line for text in texts for line in simpleSplit(text, regular, size, w)]
    room = max(0, int((cursor - y) // leading))
    for n, line in enumerate(lines[:room]):
        cursor -= leading
        last_visible = n == room - 1 and len(lines) > room
        canvas.drawString(x, cursor, _fit(line + (" …" if last_visible else ""), regular, size, w))


def _fit(text: str, font: str, size: float, width: float) -> str:
    """Cut a single line to the width, ending in an ellipsis when cut."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


# --- Shot list ---------------------------------------------------------------------------------

SHOT_LIST_COLUMNS = ("Scene", "Shot", "Description", "Size", "Move", "Lens (mm)", "Duration (s)", "Cast", "Status",
                     "Approved take")
# A spreadsheet runs a cell starting with these as a formula (=HYPERLINK(...), +cmd, @SUM, a tab
# or carriage return before one): such a cell is written with a leading apostrophe, as OWASP advises.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def shot_list_rows(rows: list[DeliverableShot]) -> list[list[str]]:
    """One row per shot, in SHOT_LIST_COLUMNS order, as plain text (not yet neutralised)."""
    table = []
    for row in rows:
        shot = row.shot
        approved = shot.approved_take if row.status == "approved" else None
        table.append([
            scene_label(shot.scene), shot.code, shot.prompt, ShotSize(shot.shot_size).label, CameraMove(shot.camera_move).label,
            str(shot.lens_mm), seconds(shot.duration_s), ", ".join(m.name for m in shot.deliverable_cast), row.status,
            f"T{approved.number}" if approved else "",
        ])
    return table


def neutralise_formula(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def shot_list_csv(rows: list[DeliverableShot]) -> str:
    """UTF-8 text with a byte-order mark (so Excel reads it as UTF-8), CRLF line ends and the csv
    module's quoting (commas, quotes and newlines inside cells survive), formulas neutralised."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(SHOT_LIST_COLUMNS)
    writer.writerows([[neutralise_formula(cell) for cell in line] for line in shot_list_rows(rows)])
    return buffer.getvalue()


def shot_list_pdf(printout: Printout, rows: list[DeliverableShot], *, paper: str = "a4") -> bytes:
    """The shot list as a landscape table that repeats its header on every page."""
    regular, bold = fonts()
    cell = ParagraphStyle("cell", fontName=regular, fontSize=7.5, leading=9)
    head = ParagraphStyle("head", parent=cell, fontName=bold)
    data = [[Paragraph(escape(c), head) for c in SHOT_LIST_COLUMNS]]
    data += [[Paragraph(escape(c).replace("\n", "<br/>"), cell) for c in line] for line in shot_list_rows(rows)]
    widths = (0.14, 0.05, 0.26, 0.08, 0.08, 0.06, 0.07, 0.10, 0.08, 0.08)
    page_size = PAPERS[paper]
    usable = page_size[0] - 2 * MARGIN
    table = Table(data, colWidths=[usable * f for f in widths], repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]))
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=page_size, leftMargin=MARGIN, rightMargin=MARGIN,
                                 topMargin=MARGIN + HEADER, bottomMargin=MARGIN + FOOTER,
                                 title=f"{printout.title_block.get('title', '')} · {printout.subtitle}")
    frame = _ShotListFrame(printout, page_size)
    document.build([table], onFirstPage=frame, onLaterPages=frame, canvasmaker=_NumberedCanvas)
    return buffer.getvalue()


class _ShotListFrame:
    """Draws the title block and date; _NumberedCanvas adds "Page n of m" once m is known."""

    def __init__(self, printout: Printout, page_size):
        self.printout, self.page_size = printout, page_size

    def __call__(self, canvas, document) -> None:
        canvas.saveState()
        _page_frame(canvas, self.printout, self.page_size, canvas.getPageNumber(), None)
        canvas.restoreState()


class _NumberedCanvas(Canvas):
    """Holds pages until the end so each can say how many there are (reportlab's known recipe)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []

    def showPage(self):
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self.setFont(fonts()[0], 8)
            self.drawRightString(self._pagesize[0] - MARGIN, MARGIN - 8, f"Page {number} of {len(self._pages)}")
            super().showPage()
        super().save()
