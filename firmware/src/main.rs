//! Arduino UNO firmware for the servo turntable (`docs/angle-protocol.md`): angle
//! commands arrive on the USB serial port at 115200 baud, the servo on pin 9 sweeps to
//! them one degree at a time, and every line gets its verdict and `OK: Good to go`.
//!
//! The command parser and the reply texts are the `angle` crate, shared with `ser2tcp`;
//! this crate is only the board (`board.rs`) and the loop that joins them.
#![no_std]
#![no_main]
#![feature(abi_avr_interrupt)]

mod board;

use angle::rx::Rx;
use angle::servo::STEP_DELAY_MS;
use angle::{Parser, READY_LINE, Servo, Verdict};
use board::{Delay, Serial, ServoPwm};

/// The delay after each one-degree step, in ms: `STEP_DELAY_MS` (15) unless the build sets
/// `ANGLE_STEP_MS` (a compile-time setting, e.g. `ANGLE_STEP_MS=20 scripts/firmware`).
const STEP_MS: u32 = match option_env!("ANGLE_STEP_MS") {
    Some(s) => parse_ms(s.as_bytes()),
    None => STEP_DELAY_MS,
};

const fn parse_ms(s: &[u8]) -> u32 {
    assert!(
        !s.is_empty() && s.len() <= 4,
        "ANGLE_STEP_MS: 1 to 4 digits"
    );
    let mut v = 0;
    let mut i = 0;
    while i < s.len() {
        assert!(s[i].is_ascii_digit(), "ANGLE_STEP_MS: digits only");
        v = v * 10 + (s[i] - b'0') as u32;
        i += 1;
    }
    v
}

#[avr_device::entry]
fn main() -> ! {
    // SAFETY: the one and only place that takes the peripherals (`take()` would bring in
    // a panic path for nothing).
    let dp = unsafe { avr_device::atmega328p::Peripherals::steal() };
    let mut serial = Serial::new(dp.USART0);
    let Ok(mut servo) = Servo::attach(ServoPwm::new(dp.TC1, &dp.PORTB));
    let mut delay = Delay;
    let mut parser = Parser::new();

    // SAFETY: the queue and its producer are set up (Serial::new).
    unsafe { avr_device::interrupt::enable() };
    serial.write(READY_LINE);

    loop {
        let verdict = match serial.read() {
            Some(Rx::Byte(b)) => parser.push(b),
            // A loss that swallowed the line's terminator answers it now (Bad input),
            // rather than when the host happens to send another terminator.
            Some(Rx::Lost(gap)) => parser.lost(gap),
            None => None,
        };
        let Some(verdict) = verdict else { continue };
        serial.write(verdict.reply().as_bytes());
        if let Verdict::Angle(target) = verdict {
            let Ok(()) = servo.sweep(target, &mut delay, STEP_MS);
        }
        serial.write(READY_LINE);
    }
}

/// Halt: a panic cannot happen in this code (no indexing of input, no unwrap), but if one
/// did, the servo holds its last position and the port goes quiet. Interrupts off, and
/// no `sleep` (QEMU would never wake, and neither should we).
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    avr_device::interrupt::disable();
    loop {
        core::hint::spin_loop();
    }
}
