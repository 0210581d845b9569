//! Servo motion (spec: "Servo motion"): the pulse width for an angle, and a sweep from the
//! current angle to a target one degree at a time, written over the embedded-hal 1.0 traits
//! so the firmware drives Timer1 with it and host tests drive mocks.
//!
//! No `core::fmt`, no floating point: plain integer arithmetic.

use embedded_hal::delay::DelayNs;
use embedded_hal::pwm::SetDutyCycle;

use crate::MAX_ANGLE;

/// The pulse width for 0 degrees, in microseconds (as the Arduino Servo library).
pub const MIN_PULSE_US: u16 = 544;
/// The pulse width for 180 degrees, in microseconds.
pub const MAX_PULSE_US: u16 = 2400;
/// The frame: one pulse every 20 ms (50 Hz).
pub const FRAME_US: u16 = 20_000;
/// Where the servo is put when attached (the device then says `OK: Good to go`).
pub const START_ANGLE: u8 = 90;
/// The default delay after each one-degree step of a sweep.
pub const STEP_DELAY_MS: u32 = 15;

/// The pulse width for `angle` (clamped to 0–180): 0–180 degrees map linearly onto
/// 544–2400 µs, rounding down, exactly as the Arduino Servo library's `map()`.
pub const fn pulse_us(angle: u8) -> u16 {
    let a = (if angle > MAX_ANGLE { MAX_ANGLE } else { angle }) as u16;
    // MIN + a * span / 180, in 16 bits (no 32-bit division on an 8-bit MCU): the whole
    // microseconds a degree, then the remainder, which stays below 180 * 180.
    let span = MAX_PULSE_US - MIN_PULSE_US;
    let (whole, rest) = (span / MAX_ANGLE as u16, span % MAX_ANGLE as u16);
    MIN_PULSE_US + whole * a + rest * a / MAX_ANGLE as u16
}

/// The duty cycle that makes a `pulse_us` pulse in every [`FRAME_US`] frame, for a PWM whose
/// full duty cycle (always high) is `max_duty` (rounded down; at most `max_duty`).
pub const fn duty(pulse_us: u16, max_duty: u16) -> u16 {
    let p = if pulse_us > FRAME_US {
        FRAME_US
    } else {
        pulse_us
    };
    if max_duty.is_multiple_of(FRAME_US) {
        // A whole number of PWM steps a microsecond (the firmware's Timer1: 2): no 32-bit
        // division, which on an 8-bit MCU costs a kilobyte of flash.
        p * (max_duty / FRAME_US)
    } else {
        (p as u32 * max_duty as u32 / FRAME_US as u32) as u16
    }
}

/// A hobby servo on a 50 Hz PWM channel. It knows where it is: it only ever moves through
/// [`Servo::write`] and [`Servo::sweep`].
#[derive(Debug)]
pub struct Servo<P> {
    pwm: P,
    max_duty: u16,
    angle: u8,
}

impl<P: SetDutyCycle> Servo<P> {
    /// Take the PWM channel (already running at 50 Hz) and put the servo at
    /// [`START_ANGLE`]. Asks the channel its full duty cycle once.
    pub fn attach(pwm: P) -> Result<Self, P::Error> {
        let max_duty = pwm.max_duty_cycle();
        let mut servo = Servo {
            pwm,
            max_duty,
            angle: START_ANGLE,
        };
        servo.write(START_ANGLE)?;
        Ok(servo)
    }

    /// The angle the servo was last told to go to.
    pub fn angle(&self) -> u8 {
        self.angle
    }

    /// Jump straight to `angle` (clamped to 0–180), without a sweep.
    pub fn write(&mut self, angle: u8) -> Result<(), P::Error> {
        let a = angle.min(MAX_ANGLE);
        self.pwm.set_duty_cycle(duty(pulse_us(a), self.max_duty))?;
        self.angle = a;
        Ok(())
    }

    /// Sweep to `target` (clamped to 0–180) one degree at a time, waiting `step_ms` after
    /// each step so the servo follows; returns once it has arrived. A target equal to the
    /// current angle writes nothing and waits not at all.
    pub fn sweep<D: DelayNs>(
        &mut self,
        target: u8,
        delay: &mut D,
        step_ms: u32,
    ) -> Result<(), P::Error> {
        let target = target.min(MAX_ANGLE);
        while self.angle != target {
            let next = if target > self.angle {
                self.angle + 1
            } else {
                self.angle - 1
            };
            self.write(next)?;
            delay.delay_ms(step_ms);
        }
        Ok(())
    }

    /// Give the PWM channel back.
    pub fn release(self) -> P {
        self.pwm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_widths() {
        assert_eq!(pulse_us(0), 544);
        assert_eq!(pulse_us(90), 1472);
        assert_eq!(pulse_us(180), 2400);
        assert_eq!(pulse_us(255), 2400);
        // 1856 µs over 180 degrees: 10.31 µs a degree, rounded down.
        assert_eq!(pulse_us(1), 554);
        assert_eq!(pulse_us(91), 1482);
        for a in 0..=255u8 {
            let exact = 544 + u32::from(a.min(180)) * 1856 / 180;
            assert_eq!(u32::from(pulse_us(a)), exact, "{a}");
        }
        for a in 0..MAX_ANGLE {
            let step = pulse_us(a + 1) - pulse_us(a);
            assert!(step == 10 || step == 11, "{a}: {step}");
        }
    }

    #[test]
    fn duty_cycles() {
        // Timer1 at 2 MHz: 40,000 ticks a frame, 2 ticks a microsecond.
        assert_eq!(duty(1472, 40_000), 2944);
        assert_eq!(duty(544, 40_000), 1088);
        assert_eq!(duty(2400, 40_000), 4800);
        // A 16-bit full scale: 65535 * 1472 / 20000 = 4823.4.
        assert_eq!(duty(1472, u16::MAX), 4823);
        assert_eq!(duty(u16::MAX, 1000), 1000);
        assert_eq!(duty(u16::MAX, 60_000), 60_000);
        assert_eq!(duty(0, 40_000), 0);
    }
}
