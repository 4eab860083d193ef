//! `clockcache::Pattern` against Python 3.11 `fnmatch.fnmatchcase`, by way of
//! a reference that translates the pattern to a regex as `fnmatch.translate`
//! does (see `clockcache_fuzz::reference_regex`). Also: `Pattern::new` and
//! `matches` never panic, and `literal()` is `Some` exactly for patterns that
//! only match their own text.
#![no_main]

use arbitrary::Arbitrary;
use clockcache::Pattern;
use clockcache_fuzz::{pattern_text, reference_match, PatPiece};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    /// Free text for both.
    Raw { pattern: String, name: String },
    /// A pattern built from glob pieces, and a name over a small alphabet
    /// (so matches are frequent).
    Pieces {
        pieces: Vec<PatPiece>,
        name: Vec<u8>,
    },
}

fuzz_target!(|input: Input| {
    let (pattern, name) = match input {
        Input::Raw { pattern, name } => (pattern, name),
        Input::Pieces { pieces, name } => {
            const ALPHABET: &[char] = &[
                'k', 'c', '0', '1', '5', '9', '-', '!', '[', ']', '^', '\\', 'é',
            ];
            let name = name
                .iter()
                .take(16)
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()])
                .collect();
            (pattern_text(&pieces), name)
        }
    };
    if pattern.chars().count() > 64 || name.chars().count() > 64 {
        return;
    }
    let p = Pattern::new(&pattern);
    let got = p.matches(&name);
    if let Some(want) = reference_match(&pattern, &name) {
        assert_eq!(
            got, want,
            "Pattern::new({pattern:?}).matches({name:?}) = {got}, fnmatchcase says {want}"
        );
    }
    // A literal pattern matches its own text and nothing else.
    if let Some(lit) = p.literal() {
        assert!(p.matches(lit), "literal {lit:?} does not match itself");
        assert_eq!(p.matches(&name), name == lit, "literal {lit:?} vs {name:?}");
        if let Some(want) = reference_match(&pattern, lit) {
            assert!(
                want,
                "fnmatch says literal {lit:?} does not match {pattern:?}"
            );
        }
    }
});
