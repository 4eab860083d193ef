//! Shared pieces of the fuzz targets: drop-tracked keys and values, a
//! deterministic hasher, a reference glob matcher (Python's
//! `fnmatch.translate`, turned into a `regex`), and the Redis integer parser
//! the counters must agree with.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arbitrary::Arbitrary;
use clockcache::{CacheError, CounterValue};

// ---------------------------------------------------------------------------
// Drop tracking
// ---------------------------------------------------------------------------

/// Life-cycle counters of one fuzz input's keys and values.
#[derive(Default)]
pub struct Counters {
    next: AtomicU64,
    live: Mutex<HashSet<u64>>,
}

impl Counters {
    /// Fresh counters.
    pub fn new() -> Arc<Counters> {
        Arc::new(Counters::default())
    }

    fn birth(&self) -> u64 {
        let serial = self.next.fetch_add(1, Ordering::Relaxed);
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(serial);
        serial
    }

    fn death(&self, serial: u64) {
        let was_live = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&serial);
        if !was_live {
            // Inside the epoch collector a panic aborts, which libFuzzer reports too.
            panic!("object {serial} dropped twice");
        }
    }

    /// Objects alive now.
    pub fn alive(&self) -> usize {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// After the cache was dropped: pins and flushes crossbeam-epoch's global
    /// collector until every tracked object is dropped, then asserts so.
    pub fn assert_all_dropped(&self) {
        for _ in 0..10_000 {
            if self.alive() == 0 {
                return;
            }
            crossbeam_epoch::pin().flush();
        }
        panic!("{} keys/values leaked (never dropped)", self.alive());
    }
}

/// A drop-tracked object: every construction and clone is registered.
pub struct Token {
    counters: Arc<Counters>,
    serial: u64,
}

impl Token {
    /// A new registered object.
    pub fn new(counters: &Arc<Counters>) -> Token {
        Token {
            counters: counters.clone(),
            serial: counters.birth(),
        }
    }
}

impl Clone for Token {
    fn clone(&self) -> Token {
        Token::new(&self.counters)
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.counters.death(self.serial);
    }
}

/// A drop-tracked `String` key (hashes and compares like its `str`).
#[derive(Clone)]
pub struct TKey {
    pub s: String,
    _t: Token,
}

impl TKey {
    pub fn new(s: String, counters: &Arc<Counters>) -> TKey {
        TKey {
            s,
            _t: Token::new(counters),
        }
    }
}

impl PartialEq for TKey {
    fn eq(&self, o: &TKey) -> bool {
        self.s == o.s
    }
}
impl Eq for TKey {}
impl Hash for TKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.s.as_str().hash(h)
    }
}
impl Borrow<str> for TKey {
    fn borrow(&self) -> &str {
        &self.s
    }
}
impl std::fmt::Debug for TKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.s)
    }
}

/// What a value holds: an integer or text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repr {
    Int(i64),
    Str(String),
}

/// A drop-tracked value.
#[derive(Clone)]
pub struct TVal {
    pub v: Repr,
    _t: Option<Token>,
}

impl TVal {
    pub fn new(v: Repr, counters: &Arc<Counters>) -> TVal {
        TVal {
            v,
            _t: Some(Token::new(counters)),
        }
    }
}

impl std::fmt::Debug for TVal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.v)
    }
}

/// Integers are counters as they are; text goes through the crate's own
/// `String` parser (checked against [`redis_parse`] by the model). Counters
/// written back are integers (and untracked: `from_counter` has no access to
/// the counters; they are checked by value).
impl CounterValue for TVal {
    fn to_counter(&self) -> Result<i64, CacheError> {
        match &self.v {
            Repr::Int(i) => Ok(*i),
            Repr::Str(s) => s.to_counter(),
        }
    }
    fn from_counter(n: i64) -> Result<Self, CacheError> {
        Ok(TVal {
            v: Repr::Int(n),
            _t: None,
        })
    }
}

/// Redis `string2ll`: optional `-`, digits, no leading zeros (except "0"),
/// no `+`, no whitespace, within `i64`.
pub fn redis_parse(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

// ---------------------------------------------------------------------------
// Hasher
// ---------------------------------------------------------------------------

/// A deterministic hasher chosen by the input: seeded mixing, or a
/// degenerate constant hash (every key has the same tag and candidates).
#[derive(Clone, Copy, Debug)]
pub struct FuzzState {
    pub seed: u64,
    pub degenerate: bool,
}

pub struct FuzzHasher {
    state: u64,
    seed: u64,
    degenerate: bool,
}

impl Hasher for FuzzHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state = (self.state ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        if self.degenerate {
            return self.seed;
        }
        // splitmix64 finaliser
        let mut z = self.state ^ self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl BuildHasher for FuzzState {
    type Hasher = FuzzHasher;
    fn build_hasher(&self) -> FuzzHasher {
        FuzzHasher {
            state: 0xcbf2_9ce4_8422_2325,
            seed: self.seed,
            degenerate: self.degenerate,
        }
    }
}

// ---------------------------------------------------------------------------
// Inputs shared by the cache targets
// ---------------------------------------------------------------------------

/// A value as the fuzzer describes it.
#[derive(Arbitrary, Debug, Clone)]
pub enum ValueSpec {
    Int(i64),
    Small(i8),
    Str(String),
    Num(i64),
    Tricky(u8),
}

const TRICKY: &[&str] = &[
    "",
    "0",
    "-0",
    "007",
    "+1",
    " 1",
    "1 ",
    "-",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1e3",
    "0x10",
    "abc",
    "١٢",
];

impl ValueSpec {
    pub fn repr(&self) -> Repr {
        match self {
            ValueSpec::Int(i) => Repr::Int(*i),
            ValueSpec::Small(i) => Repr::Int(i64::from(*i)),
            ValueSpec::Str(s) => Repr::Str(s.chars().take(24).collect()),
            ValueSpec::Num(i) => Repr::Str(i.to_string()),
            ValueSpec::Tricky(i) => Repr::Str(TRICKY[usize::from(*i) % TRICKY.len()].to_string()),
        }
    }
}

/// A glob pattern over the key alphabet, built from pieces.
#[derive(Arbitrary, Debug, Clone)]
pub enum PatPiece {
    K,
    C,
    Digit(u8),
    Star,
    Question,
    Range(u8, u8),
    NegRange(u8, u8),
    Bracket,
    Close,
    Bang,
    Dash,
    Raw(char),
}

/// The pattern text of a list of pieces.
pub fn pattern_text(pieces: &[PatPiece]) -> String {
    let d = |x: &u8| char::from(b'0' + x % 10);
    let mut s = String::new();
    for p in pieces.iter().take(12) {
        match p {
            PatPiece::K => s.push('k'),
            PatPiece::C => s.push('c'),
            PatPiece::Digit(x) => s.push(d(x)),
            PatPiece::Star => s.push('*'),
            PatPiece::Question => s.push('?'),
            PatPiece::Range(a, b) => s.push_str(&format!("[{}-{}]", d(a), d(b))),
            PatPiece::NegRange(a, b) => s.push_str(&format!("[!{}-{}]", d(a), d(b))),
            PatPiece::Bracket => s.push('['),
            PatPiece::Close => s.push(']'),
            PatPiece::Bang => s.push('!'),
            PatPiece::Dash => s.push('-'),
            PatPiece::Raw(c) => s.push(*c),
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Reference glob: Python 3.11 `fnmatch.translate`, emitted as a Rust regex
// ---------------------------------------------------------------------------

/// Python's class text (`stuff` in `fnmatch.translate`) for the set between
/// `pat[i]` (just after `[`) and the closing `]` at `pat[j]`: the same
/// chunking on `-`, empty-range removal and escaping.
fn python_class_stuff(pat: &[char], mut i: usize, j: usize) -> String {
    let stuff: String = pat[i..j].iter().collect();
    let mut stuff = if !stuff.contains('-') {
        stuff.replace('\\', r"\\")
    } else {
        let mut chunks: Vec<Vec<char>> = Vec::new();
        let mut k = if pat[i] == '!' { i + 2 } else { i + 1 };
        loop {
            // pat.find('-', k, j)
            let found = if k < j {
                pat[k..j].iter().position(|&c| c == '-').map(|p| p + k)
            } else {
                None
            };
            let Some(kk) = found else { break };
            chunks.push(pat[i..kk].to_vec());
            i = kk + 1;
            k = kk + 3;
        }
        let chunk = pat[i..j].to_vec();
        if !chunk.is_empty() {
            chunks.push(chunk);
        } else {
            chunks
                .last_mut()
                .expect("a chunk before a trailing '-'")
                .push('-');
        }
        // Remove empty ranges -- invalid in RE.
        let mut k = chunks.len() - 1;
        while k > 0 {
            // Python would raise IndexError on an empty chunk here; it cannot
            // be empty (every chunk but the merged one has >= 2 chars, and
            // the merged one is on the right).
            if chunks[k - 1].last() > chunks[k].first() {
                let mut merged = chunks[k - 1][..chunks[k - 1].len() - 1].to_vec();
                merged.extend_from_slice(&chunks[k][1..]);
                chunks[k - 1] = merged;
                chunks.remove(k);
            }
            k -= 1;
        }
        chunks
            .iter()
            .map(|c| {
                c.iter()
                    .collect::<String>()
                    .replace('\\', r"\\")
                    .replace('-', r"\-")
            })
            .collect::<Vec<_>>()
            .join("-")
    };
    // Escape set operations (&&, ~~ and ||).
    let mut escaped = String::new();
    for c in stuff.chars() {
        if matches!(c, '&' | '~' | '|') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    stuff = escaped;
    stuff
}

/// One element of the translated regex.
enum Atom {
    Star,
    Any,
    Lit(char),
    /// A character class as Python's `re` reads it: negated, (lo, hi) ranges.
    Class(bool, Vec<(char, char)>),
    Never,
}

/// Parses a Python `re` class body (without brackets, after the `^` test)
/// into ranges, the way `sre_parse` does for the escapes `translate` emits.
/// `None` where Python's `re` would reject it (a reversed range).
fn parse_python_class(body: &[char]) -> Option<Vec<(char, char)>> {
    let mut out = Vec::new();
    let mut i = 0;
    let item = |i: &mut usize| -> char {
        let c = body[*i];
        *i += 1;
        if c == '\\' && *i < body.len() {
            let e = body[*i];
            *i += 1;
            e
        } else {
            c
        }
    };
    while i < body.len() {
        let lo = item(&mut i);
        if i < body.len() && body[i] == '-' {
            if i + 1 == body.len() {
                // "a-" before the closing bracket: 'a' and '-'.
                out.push((lo, lo));
                out.push(('-', '-'));
                i += 1;
                continue;
            }
            i += 1;
            let hi = item(&mut i);
            if lo > hi {
                return None;
            }
            out.push((lo, hi));
        } else {
            out.push((lo, lo));
        }
    }
    Some(out)
}

fn translate_atoms(pattern: &str) -> Option<Vec<Atom>> {
    let pat: Vec<char> = pattern.chars().collect();
    let n = pat.len();
    let mut res: Vec<Atom> = Vec::new();
    let mut i = 0;
    while i < n {
        let c = pat[i];
        i += 1;
        match c {
            '*' => {
                if !matches!(res.last(), Some(Atom::Star)) {
                    res.push(Atom::Star);
                }
            }
            '?' => res.push(Atom::Any),
            '[' => {
                let mut j = i;
                if j < n && pat[j] == '!' {
                    j += 1;
                }
                if j < n && pat[j] == ']' {
                    j += 1;
                }
                while j < n && pat[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    res.push(Atom::Lit('['));
                } else {
                    let stuff: Vec<char> = python_class_stuff(&pat, i, j).chars().collect();
                    i = j + 1;
                    if stuff.is_empty() {
                        res.push(Atom::Never);
                    } else if stuff == ['!'] {
                        res.push(Atom::Any);
                    } else {
                        // `!` -> `^` (negation); a leading `^` or `[` is
                        // escaped, i.e. literal: the parser below reads
                        // "\^" as '^' and "\[" as '['.
                        let (neg, body) = if stuff[0] == '!' {
                            (true, &stuff[1..])
                        } else {
                            (false, &stuff[..])
                        };
                        // A negated class whose body starts with '^' would
                        // read as "^^..." in Python: '^' negates once, and
                        // the second '^' is literal, which the parser does.
                        res.push(Atom::Class(neg, parse_python_class(body)?));
                    }
                }
            }
            c => res.push(Atom::Lit(c)),
        }
    }
    Some(res)
}

/// Python 3.11 `fnmatch.fnmatchcase(name, pattern)`, through a `regex`
/// built from the translation. `None` where Python would raise.
pub fn reference_match(pattern: &str, name: &str) -> Option<bool> {
    let re = reference_regex(pattern)?;
    Some(re.is_some_and(|re| re.is_match(name)))
}

/// The translated regex (`Some(None)`: a pattern that never matches).
pub fn reference_regex(pattern: &str) -> Option<Option<regex::Regex>> {
    let atoms = translate_atoms(pattern)?;
    let mut s = String::from(r"\A(?s:");
    for a in &atoms {
        match a {
            Atom::Star => s.push_str(".*"),
            Atom::Any => s.push('.'),
            Atom::Lit(c) => s.push_str(&format!(r"\x{{{:X}}}", *c as u32)),
            Atom::Class(neg, ranges) => {
                s.push('[');
                if *neg {
                    s.push('^');
                }
                for (lo, hi) in ranges {
                    s.push_str(&format!(r"\x{{{:X}}}-\x{{{:X}}}", *lo as u32, *hi as u32));
                }
                s.push(']');
            }
            Atom::Never => return Some(None),
        }
    }
    s.push_str(r")\z");
    let re = regex::RegexBuilder::new(&s)
        .size_limit(1 << 24)
        .build()
        .unwrap_or_else(|e| panic!("reference regex {s:?} for {pattern:?}: {e}"));
    Some(Some(re))
}
