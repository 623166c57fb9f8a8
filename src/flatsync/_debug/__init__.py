"""On top: tools that print, weigh and record trees and packets, and the command line.

``_show`` (the printers: overview, dig), ``_accounting`` (byte costs),
``_recording`` (the recording file format) and ``_cli``.
"""
