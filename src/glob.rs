//! Shell-style glob patterns with exactly the semantics of Python's
//! `fnmatch.fnmatchcase` (as of Python 3.11).
//!
//! `*` matches any run of characters, `?` exactly one character, `[seq]` one
//! character in `seq` and `[!seq]` one character not in `seq`. There is no
//! escape character, matching is case-sensitive and works on Unicode scalar
//! values. Malformed sets (an unclosed `[`) are literal text.

/// One pre-parsed element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Exactly this character.
    Literal(char),
    /// Any single character (`?`).
    Any,
    /// Any run of characters, possibly empty (`*`, consecutive stars merged).
    Star,
    /// One character inside (or, when `negated`, outside) the inclusive ranges.
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    /// Whether this single-character token accepts `c` (never called on `Star`).
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::Any | Token::Star => true,
            Token::Set { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// A compiled glob pattern with Python `fnmatch.fnmatchcase` semantics.
///
/// ```
/// use clockcache::Pattern;
///
/// let p = Pattern::new("session:??:*");
/// assert!(p.matches("session:ab:42"));
/// assert!(!p.matches("session:abc"));
/// assert_eq!(p.literal(), None);
/// assert_eq!(Pattern::new("user:1").literal(), Some("user:1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    tokens: Vec<Token>,
    is_literal: bool,
}

impl Pattern {
    /// Compiles `pattern`. Never fails and never panics: malformed parts (an
    /// unclosed `[`) are literal, as in fnmatch.
    #[must_use]
    pub fn new(pattern: &str) -> Pattern {
        let pat: Vec<char> = pattern.chars().collect();
        let n = pat.len();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < n {
            let c = pat[i];
            i += 1;
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::Any),
                '[' => {
                    // Find the closing `]`; a `]` right after `[` or `[!` is a member.
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
                        tokens.push(Token::Literal('['));
                    } else {
                        tokens.push(parse_set(&pat[i..j]));
                        i = j + 1;
                    }
                }
                _ => tokens.push(Token::Literal(c)),
            }
        }
        let is_literal = tokens.iter().all(|t| matches!(t, Token::Literal(_)));
        Pattern {
            text: pattern.to_owned(),
            tokens,
            is_literal,
        }
    }

    /// Whether `name` matches the whole pattern.
    ///
    /// Runs in O(len(name) · len(pattern)) time: only the most recent `*` is
    /// ever backtracked to, which is sufficient because every other token
    /// matches exactly one character.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        let toks = &self.tokens;
        let (mut p, mut n) = (0usize, 0usize); // token index, byte offset in name
        let mut backtrack: Option<(usize, usize)> = None; // (token after `*`, name offset)
        loop {
            if let Some(tok) = toks.get(p) {
                if *tok == Token::Star {
                    p += 1;
                    backtrack = Some((p, n));
                    continue;
                }
                if let Some(c) = name[n..].chars().next() {
                    if tok.accepts(c) {
                        p += 1;
                        n += c.len_utf8();
                        continue;
                    }
                }
            } else if n == name.len() {
                return true;
            }
            // Mismatch: let the last `*` swallow one more character and retry.
            let Some((sp, sn)) = backtrack else {
                return false;
            };
            let Some(c) = name[sn..].chars().next() else {
                return false;
            };
            p = sp;
            n = sn + c.len_utf8();
            backtrack = Some((sp, n));
        }
    }

    /// The pattern text it was built from.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// If the pattern has no wildcard at all, the literal string it matches
    /// (lets callers do an exact lookup). Sets such as `[a]` count as wildcards.
    #[must_use]
    pub fn literal(&self) -> Option<&str> {
        self.is_literal.then_some(self.text.as_str())
    }
}

/// An item of the regex character class that `fnmatch.translate` builds.
#[derive(Clone, Copy, PartialEq)]
enum Item {
    /// A member character (escaped or not, it is never an operator).
    Char(char),
    /// An unescaped `-` that `translate` emitted as a range operator.
    Dash,
}

/// Builds the set token for the text `stuff` between `[` and its `]`,
/// mirroring `fnmatch.translate` followed by Python's `re` class parser.
fn parse_set(stuff: &[char]) -> Token {
    let m = stuff.len();
    let mut dashes = Vec::new();
    if stuff.contains(&'-') {
        // translate's chunk split: a `-` acts as a range operator unless it is
        // first (after `!`), last, or the high end of the previous range.
        let mut k = if stuff.first() == Some(&'!') { 2 } else { 1 };
        while let Some(off) = stuff
            .get(k..)
            .and_then(|s| s.iter().position(|&c| c == '-'))
        {
            let p = k + off;
            if p + 1 < m {
                dashes.push(p);
            }
            k = p + 3;
        }
    }
    // "Remove empty ranges": drop `lo`, `-` and `hi` wherever lo > hi.
    let mut items = Vec::with_capacity(m);
    let mut idx = 0;
    let mut dash_iter = dashes.iter().peekable();
    while idx < m {
        if let Some(&&p) = dash_iter.peek() {
            if idx + 1 == p {
                dash_iter.next();
                if stuff[p - 1] <= stuff[p + 1] {
                    items.extend([
                        Item::Char(stuff[p - 1]),
                        Item::Dash,
                        Item::Char(stuff[p + 1]),
                    ]);
                }
                idx = p + 2;
                continue;
            }
        }
        items.push(Item::Char(stuff[idx]));
        idx += 1;
    }
    // A leading `!` negates, even one exposed by the removal above (so `[b-a!x]`
    // is `[^x]`). An empty set never matches; a lone `!` matches anything.
    let negated = items.first() == Some(&Item::Char('!'));
    let rest = if negated { &items[1..] } else { &items[..] };
    // Parse like `re`: `c - d` is a range; any other `-` is a literal.
    let mut ranges = Vec::new();
    let mut r = 0;
    while r < rest.len() {
        match (rest[r], rest.get(r + 1), rest.get(r + 2)) {
            (Item::Char(lo), Some(Item::Dash), Some(&Item::Char(hi))) => {
                if lo <= hi {
                    ranges.push((lo, hi));
                }
                r += 3;
            }
            (Item::Char(c), _, _) => {
                ranges.push((c, c));
                r += 1;
            }
            // Only reachable as the first item after a negating `!`, e.g. `[b-a!-z]`.
            (Item::Dash, _, _) => {
                ranges.push(('-', '-'));
                r += 1;
            }
        }
    }
    Token::Set { negated, ranges }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    /// (pattern, name, expected). Generated by running CPython 3.11's
    /// `fnmatch.fnmatchcase(name, pattern)` on each pair; do not hand-edit.
    const TABLE: &[(&str, &str, bool)] = &[
        ("", "", true),
        ("", "a", false),
        ("*", "", true),
        ("?", "", false),
        ("a", "", false),
        ("[a]", "", false),
        ("abc", "abc", true),
        ("abc", "abcd", false),
        ("abc", "ABC", false),
        ("A", "a", false),
        ("*", "anything", true),
        ("**", "x", true),
        ("a*", "a", true),
        ("a*", "ba", false),
        ("*a", "bba", true),
        ("a**b", "ab", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbYcZ", false),
        ("*ab", "aab", true),
        ("*a*", "bab", true),
        ("?", "a", true),
        ("??", "a", false),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("?", "\n", true),
        ("a*b", "a\nb", true),
        ("[abc]", "b", true),
        ("[abc]", "d", false),
        ("[!abc]", "d", true),
        ("[!abc]", "a", false),
        ("[a-c]", "b", true),
        ("[a-c]", "d", false),
        ("[!a-c]", "z", true),
        ("[0-9][0-9]", "42", true),
        ("[!]", "[!]", true),
        ("[!]", "!", false),
        ("[]", "[]", true),
        ("[]", "", false),
        ("[]]", "]", true),
        ("[]]", "a", false),
        ("[!]]", "]", false),
        ("[!]]", "a", true),
        ("[]a]", "a", true),
        ("[a-]", "-", true),
        ("[a-]", "a", true),
        ("[a-]", "b", false),
        ("[-a]", "-", true),
        ("[!-a]", "-", false),
        ("[!-a]", "b", true),
        ("[-]", "-", true),
        ("[--]", "-", true),
        ("[--0]", "-", true),
        ("[--0]", "/", true),
        ("[--0]", "0", true),
        ("[--0]", "1", false),
        ("[z-a]", "m", false),
        ("[z-a]", "z", false),
        ("[!z-a]", "m", true),
        ("[z-ab]", "b", true),
        ("[z-ab]", "z", false),
        ("[a-c-e]", "b", true),
        ("[a-c-e]", "-", true),
        ("[a-c-e]", "d", false),
        ("[a-c-e]", "e", true),
        ("[b-a!]", "q", true),
        ("[b-a!x]", "x", false),
        ("[b-a!x]", "y", true),
        ("[b-a!-z]", "-", false),
        ("[b-a!-z]", "m", true),
        ("[b-a^]", "^", true),
        ("[b-a^]", "b", false),
        ("[^a]", "^", true),
        ("[^a]", "b", false),
        ("[!!]", "!", false),
        ("[a&&b]", "&", true),
        ("[a~|]", "|", true),
        ("[", "[", true),
        ("a[", "a[", true),
        ("[!", "[!", true),
        ("[abc", "[abc", true),
        ("[abc", "a", false),
        ("[!a", "b", false),
        ("[*", "[xyz", true),
        ("[?", "[q", true),
        ("[[]", "[", true),
        ("[[]]", "[]", true),
        ("[[a]", "a", true),
        ("\\", "\\", true),
        ("\\*", "\\abc", true),
        ("\\*", "*", false),
        ("\\?", "\\x", true),
        ("[\\]", "\\", true),
        ("[\\-a]", "]", true),
        ("[\\-a]", "\\", true),
        ("a\\[b", "a\\[b", true),
        ("caf?", "café", true),
        ("caf[é]", "café", true),
        ("caf[!e]", "café", true),
        ("[à-ÿ]", "é", true),
        ("[à-ÿ]", "a", false),
        ("*é", "ééé", true),
        ("??", "é", false),
        ("[α-ω]*", "λx", true),
        ("🦀?", "🦀🦀", true),
        ("user:*", "user:42", true),
        ("user:*", "users:42", false),
        ("session:??:*", "session:ab:x", true),
        ("session:??:*", "session:abc:x", false),
        ("*:[0-9]*", "item:7x", true),
        ("*:[0-9]*", "item:x7", false),
        ("user:[!0-9]*", "user:admin", true),
        ("cache:*:v[12]", "cache:a:b:v2", true),
    ];

    #[test]
    fn matches_python_fnmatchcase() {
        for &(pat, name, expected) in TABLE {
            assert_eq!(
                Pattern::new(pat).matches(name),
                expected,
                "pattern {pat:?} name {name:?}"
            );
        }
    }

    #[test]
    fn pathological_pattern_is_fast_and_correct() {
        let p = Pattern::new("*a*a*a*a*a*a*a*b");
        // Shorter under Miri (10 000 characters take about 40 s there).
        let mut name = "a".repeat(if cfg!(miri) { 500 } else { 10_000 });
        assert!(!p.matches(&name));
        name.push('b');
        assert!(p.matches(&name));
    }

    #[test]
    fn literal_and_as_str() {
        assert_eq!(Pattern::new("user:42").literal(), Some("user:42"));
        assert_eq!(Pattern::new("").literal(), Some(""));
        assert_eq!(Pattern::new("a[b").literal(), Some("a[b"));
        assert_eq!(Pattern::new("a\\b").literal(), Some("a\\b"));
        for wild in ["user:*", "a?", "[a]", "[!]]"] {
            assert_eq!(Pattern::new(wild).literal(), None, "{wild:?}");
        }
        assert_eq!(Pattern::new("s:[0-9]*").as_str(), "s:[0-9]*");
    }

    #[test]
    fn consecutive_stars_collapse() {
        assert_eq!(Pattern::new("a***b").tokens, Pattern::new("a*b").tokens);
    }
}
