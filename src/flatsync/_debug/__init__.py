"""On top: tools that print, weigh and record trees and packets, and the command line."""
