"""gunicorn's worker class for the studio: uvicorn with uvloop and httptools, and no per-message
compression on WebSockets.

    gunicorn -k studio.uvicorn_worker.UvicornWorker -w 4 studio.asgi:application

Live frames are a few hundred bytes of JSON. Compressed, every socket keeps its own zlib state
and each event is compressed once per socket; uncompressed, an event is framed once and the same
bytes written to every socket of the process (studio/socket_frames.py). Browsers ask for
compression on every socket, so this is the server's decision. Plain uvicorn takes the same as
`--loop uvloop --http httptools --ws-per-message-deflate false`.
"""

from uvicorn_worker import UvicornWorker as _UvicornWorker


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS = {"loop": "uvloop", "http": "httptools", "ws_per_message_deflate": False, "lifespan": "off"}
