//! The angle-command protocol (`shared/specs/angle-protocol.md`): filled in by the firmware issue.
#![no_std]
