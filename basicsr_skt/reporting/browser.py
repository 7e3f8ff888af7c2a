"""Drive a headless Chromium over the Chrome DevTools Protocol (CDP): open a local page, evaluate JavaScript, take a
screenshot. Used to test and measure the comparison page (:mod:`basicsr_skt.reporting.compare_page`) and to make its
README screenshot; standard library only (a minimal WebSocket client), no network beyond the loopback interface.

    with HeadlessChromium() as browser:
        browser.open('file:///abs/page.html')
        print(browser.evaluate('document.title'))
        browser.screenshot('page.png')

The browser is Debian's ``chromium`` (or ``chromium-browser``, ``google-chrome``; ``$CHROMIUM`` names another binary):
:func:`find_chromium` returns None when there is none, so that tests can skip.
"""
import base64
import json
import os
import pathlib
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from typing import Any, Dict, Optional
from urllib.parse import urlparse

#: Binaries tried in order by :func:`find_chromium` (after ``$CHROMIUM``).
CHROMIUM_NAMES = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')
_DEVTOOLS_LINE = re.compile(r'DevTools listening on (ws://\S+)')


def find_chromium() -> Optional[str]:
    """Path of a Chromium binary (``$CHROMIUM``, else the first of :data:`CHROMIUM_NAMES` on ``PATH``), or None."""
    names = [os.environ['CHROMIUM']] if os.environ.get('CHROMIUM') else []
    for name in names + list(CHROMIUM_NAMES):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    """Chromium did not start, a CDP command failed, or page JavaScript threw (the message holds the details)."""


class _WebSocket:
    """A minimal client WebSocket (RFC 6455): text frames out (masked), text/continuation frames in."""

    def __init__(self, url: str, timeout: float):
        parsed = urlparse(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode('ascii')
        request = (f'GET {parsed.path} HTTP/1.1\r\nHost: {parsed.hostname}:{parsed.port}\r\nUpgrade: websocket\r\n'
                   f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n')
        self.sock.sendall(request.encode('ascii'))
        response = b''
        while b'\r\n\r\n' not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise BrowserError(f'WebSocket handshake with {url} failed: connection closed')
            response += chunk
        header, self.buffer = response.split(b'\r\n\r\n', 1)
        if b' 101 ' not in header.split(b'\r\n', 1)[0]:
            raise BrowserError(f'WebSocket handshake with {url} failed: {header[:200]!r}')

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(max(65536, count - len(self.buffer)))
            if not chunk:
                raise BrowserError('Chromium closed the DevTools connection')
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def send(self, text: str) -> None:
        payload = text.encode('utf-8')
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack('>H', len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack('>Q', len(payload))
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receive(self) -> str:
        """The next complete text message (pings and other control frames skipped)."""
        parts = []
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack('>H', self._read(2))[0]
            elif length == 127:
                length = struct.unpack('>Q', self._read(8))[0]
            mask = self._read(4) if second & 0x80 else None
            data = self._read(length)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x8:
                raise BrowserError('Chromium closed the DevTools connection')
            if opcode in (0x0, 0x1, 0x2):
                parts.append(data)
                if first & 0x80:
                    return b''.join(parts).decode('utf-8')

    def close(self) -> None:
        self.sock.close()


class HeadlessChromium:
    """A headless Chromium with one page, driven over CDP (use as a context manager).

    Args:
        width: Window width in CSS pixels.
        height: Window height in CSS pixels.
        timeout: Seconds to wait for the browser to start and for each command.
        binary: Chromium binary (default :func:`find_chromium`).
    """

    def __init__(self, width: int = 1400, height: int = 1000, timeout: float = 30.0, binary: Optional[str] = None):
        self.binary = binary or find_chromium()
        if self.binary is None:
            raise BrowserError(f'No Chromium binary found ({", ".join(CHROMIUM_NAMES)} or $CHROMIUM); install '
                               'Debian\'s chromium package (apt-get install chromium)')
        self.width, self.height, self.timeout = width, height, timeout
        self.proc: Optional[subprocess.Popen] = None
        self.ws: Optional[_WebSocket] = None
        self.profile = ''
        self.log_path = ''
        self._next_id = 0

    def __enter__(self) -> 'HeadlessChromium':
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Start Chromium with remote debugging on a free loopback port and connect to its page."""
        self.profile = tempfile.mkdtemp(prefix='skt-chromium-')
        cmd = [
            self.binary, '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
            '--no-default-browser-check', '--disable-extensions', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--hide-scrollbars', '--force-device-scale-factor=1',
            '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', f'--user-data-dir={self.profile}',
            f'--window-size={self.width},{self.height}', 'about:blank'
        ]
        # stderr goes to a file (a pipe nobody reads could fill up and stall the browser); it names the DevTools URL
        self.log_path = os.path.join(self.profile, 'chromium.log')
        with open(self.log_path, 'w') as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        deadline, browser_url, text = time.time() + self.timeout, None, ''
        while time.time() < deadline and browser_url is None:
            with open(self.log_path, errors='replace') as log:
                text = log.read()
            found = _DEVTOOLS_LINE.search(text)
            if found:
                browser_url = found.group(1)
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if browser_url is None:
            self.close()
            raise BrowserError(f'{self.binary} did not start its DevTools server: {text[-2000:]}')
        port = urlparse(browser_url).port
        page_url = None
        while time.time() < deadline and page_url is None:
            with urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list', timeout=self.timeout) as response:
                targets = json.load(response)
            page_url = next((t['webSocketDebuggerUrl'] for t in targets if t.get('type') == 'page'), None)
            if page_url is None:
                time.sleep(0.1)
        if page_url is None:
            self.close()
            raise BrowserError(f'{self.binary} opened no page target')
        self.ws = _WebSocket(page_url, self.timeout)
        self.command('Runtime.enable')
        self.command('Page.enable')
        self.command('Emulation.setDeviceMetricsOverride', width=self.width, height=self.height, deviceScaleFactor=1,
                     mobile=False)

    def command(self, method: str, **params: Any) -> Dict[str, Any]:
        """Send one CDP command and return its ``result`` (events received meanwhile are dropped).

        Raises:
            BrowserError: The command returned an error.
        """
        self._next_id += 1
        self.ws.send(json.dumps({'id': self._next_id, 'method': method, 'params': params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get('id') == self._next_id:
                if 'error' in message:
                    raise BrowserError(f'{method} failed: {message["error"]}')
                return message.get('result', {})

    def open(self, url: str, ready: Optional[str] = None) -> None:
        """Navigate to ``url`` and wait for its load event, then for the promise expression ``ready`` if given."""
        self.evaluate('window.__sktPreviousPage = true')  # the new document will not have it
        result = self.command('Page.navigate', url=url)
        if result.get('errorText'):
            raise BrowserError(f'Cannot open {url}: {result["errorText"]}')
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            if self.evaluate('!window.__sktPreviousPage && document.readyState === "complete"'):
                break
            time.sleep(0.05)
        else:
            raise BrowserError(f'{url} did not finish loading within {self.timeout:.0f} s')
        if ready is not None:
            self.evaluate(ready)

    def evaluate(self, expression: str) -> Any:
        """Evaluate a JavaScript expression in the page (promises are awaited) and return its JSON value.

        Raises:
            BrowserError: The expression threw (the message holds the JavaScript exception).
        """
        result = self.command('Runtime.evaluate', expression=expression, awaitPromise=True, returnByValue=True,
                              timeout=self.timeout * 1e3)
        if 'exceptionDetails' in result:
            details = result['exceptionDetails']
            text = details.get('exception', {}).get('description') or details.get('text')
            raise BrowserError(f'JavaScript error: {text}')
        return result.get('result', {}).get('value')

    def screenshot(self, path: str) -> str:
        """Save a PNG of the visible page to ``path``; returns ``path``."""
        data = self.command('Page.captureScreenshot', format='png')['data']
        with open(path, 'wb') as f:
            f.write(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Stop the browser (its process only) and delete its profile folder."""
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = ''


def screenshot_page(html: str, out_png: str, width: int = 1400, height: int = 900, ready: str = 'SKT.ready') -> str:
    """Open a local page (e.g. a comparison page) in headless Chromium, wait for ``ready`` and save a screenshot.

    Args:
        html: Path of the page.
        out_png: The PNG to write.
        width: Viewport width in CSS pixels.
        height: Viewport height in CSS pixels.
        ready: Promise expression awaited before the screenshot (None: only the load event).

    Returns:
        ``out_png``.
    """
    with HeadlessChromium(width=width, height=height) as browser:
        browser.open(pathlib.Path(html).resolve().as_uri(), ready=ready)
        return browser.screenshot(out_png)
