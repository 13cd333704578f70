//! CMOS real-time clock decoding for the date-at-boot response.

/// Raw RTC register values as read from CMOS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RtcRaw {
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub day: u8,
    pub month: u8,
    pub year: u8,
    /// Century register (0x32), 0 if the firmware does not keep one.
    pub century: u8,
    /// Status register B: bit 2 = binary (else BCD), bit 1 = 24-hour (else 12-hour).
    pub status_b: u8,
}

const STATUS_B_24H: u8 = 1 << 1;
const STATUS_B_BINARY: u8 = 1 << 2;
const HOUR_PM: u8 = 0x80;

/// Converts a packed BCD byte.
pub const fn bcd_to_bin(v: u8) -> u8 {
    (v >> 4) * 10 + (v & 0x0f)
}

/// Days since 1970-01-01 of a proleptic Gregorian civil date.
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Shift the year to start in March so the leap day is the last day of the year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// UNIX seconds of a UTC civil date and time.
pub const fn unix_seconds(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> i64 {
    days_from_civil(year, month, day) * 86_400 + (h as i64) * 3600 + (m as i64) * 60 + s as i64
}

impl RtcRaw {
    /// Decodes the registers (BCD or binary, 12- or 24-hour) into UNIX seconds. Years
    /// without a century register are taken as 20xx.
    pub fn unix_seconds(&self) -> i64 {
        let binary = self.status_b & STATUS_B_BINARY != 0;
        let conv = |v: u8| if binary { v } else { bcd_to_bin(v) };
        let pm = self.hours & HOUR_PM != 0;
        let mut hour = conv(self.hours & !HOUR_PM);
        if self.status_b & STATUS_B_24H == 0 {
            // 12-hour clock: 12 AM is 0, 12 PM is 12.
            hour %= 12;
            if pm {
                hour += 12;
            }
        }
        let century = match conv(self.century) {
            c @ 19..=99 => i64::from(c),
            _ => 20,
        };
        unix_seconds(
            century * 100 + i64::from(conv(self.year)),
            u32::from(conv(self.month)),
            u32::from(conv(self.day)),
            u32::from(hour),
            u32::from(conv(self.minutes)),
            u32::from(conv(self.seconds)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(unix_seconds(2000, 3, 1, 0, 0, 0), 951_868_800);
        assert_eq!(unix_seconds(2024, 2, 29, 12, 0, 0), 1_709_208_000);
        assert_eq!(unix_seconds(2026, 11, 22, 21, 56, 7), 1_795_384_567);
        assert_eq!(unix_seconds(2100, 3, 1, 0, 0, 0), 4_107_542_400);
    }

    #[test]
    fn bcd_24h() {
        let r = RtcRaw {
            seconds: 0x07,
            minutes: 0x56,
            hours: 0x21,
            day: 0x22,
            month: 0x11,
            year: 0x26,
            century: 0x20,
            status_b: STATUS_B_24H,
        };
        assert_eq!(r.unix_seconds(), 1_795_384_567);
    }

    #[test]
    fn binary_12h_and_missing_century() {
        let r = RtcRaw {
            seconds: 7,
            minutes: 56,
            hours: 9 | HOUR_PM,
            day: 22,
            month: 11,
            year: 26,
            century: 0,
            status_b: STATUS_B_BINARY,
        };
        assert_eq!(r.unix_seconds(), 1_795_384_567);
        let midnight = RtcRaw { hours: 12, ..r };
        assert_eq!(
            midnight.unix_seconds(),
            unix_seconds(2026, 11, 22, 0, 56, 7)
        );
        let noon = RtcRaw {
            hours: 12 | HOUR_PM,
            ..r
        };
        assert_eq!(noon.unix_seconds(), unix_seconds(2026, 11, 22, 12, 56, 7));
    }

    #[test]
    fn bcd() {
        assert_eq!(bcd_to_bin(0x59), 59);
        assert_eq!(bcd_to_bin(0x00), 0);
    }
}
