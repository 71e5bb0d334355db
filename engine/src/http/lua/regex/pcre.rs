//! `ngx.re`'s PCRE2 calls, the only `unsafe` of the regex path: the `pcre2` crate keeps its
//! match context private, and `lua_regex_match_limit` needs one (pcre2_set_match_limit).
//!
//! A [`Code`] owns its compiled pattern, its match data and its match context, and frees
//! them when dropped. Raw pointers make it neither `Send` nor `Sync`: it lives in one
//! worker thread's cache, and PCRE2 never calls back into Lua while matching (no callouts
//! are set), so no match can start while another one runs on the same match data.

use std::ptr::{self, NonNull};

use pcre2_sys::{
    pcre2_code_8, pcre2_code_free_8, pcre2_compile_8, pcre2_dfa_match_8, pcre2_get_error_message_8,
    pcre2_get_ovector_count_8, pcre2_get_ovector_pointer_8, pcre2_jit_compile_8, pcre2_match_8,
    pcre2_match_context_8, pcre2_match_context_create_8, pcre2_match_context_free_8,
    pcre2_match_data_8, pcre2_match_data_create_from_pattern_8, pcre2_match_data_free_8,
    pcre2_pattern_info_8, pcre2_set_match_limit_8, PCRE2_ERROR_NOMATCH, PCRE2_INFO_ALLOPTIONS,
    PCRE2_INFO_CAPTURECOUNT, PCRE2_INFO_FIRSTBITMAP, PCRE2_INFO_MINLENGTH, PCRE2_INFO_NAMECOUNT,
    PCRE2_INFO_NAMEENTRYSIZE, PCRE2_INFO_NAMETABLE, PCRE2_JIT_COMPLETE,
};

pub(super) use pcre2_sys::{
    PCRE2_ANCHORED, PCRE2_CASELESS, PCRE2_DOTALL, PCRE2_DUPNAMES, PCRE2_EXTENDED, PCRE2_MULTILINE,
    PCRE2_UTF,
};

/// A compile failure: PCRE2's message and the pattern offset it points at.
#[derive(Debug)]
pub(super) struct CompileError {
    pub(super) message: String,
    pub(super) offset: usize,
}

/// A compiled pattern ready to match.
pub(super) struct Code {
    code: NonNull<pcre2_code_8>,
    data: NonNull<pcre2_match_data_8>,
    ctx: NonNull<pcre2_match_context_8>,
    /// Number of capture groups (group 0 not counted).
    captures: usize,
    /// Group names and their numbers, in the name table's (alphabetical) order.
    names: Vec<(String, usize)>,
    /// PCRE1's pcre_study would have returned an extra block for this pattern: only then
    /// does lua-nginx-module set its match limit (see [`Code::new`]).
    studied: bool,
    /// The JIT compiled it.
    jitted: bool,
}

impl Drop for Code {
    fn drop(&mut self) {
        // SAFETY: the three pointers were returned non-NULL by their create functions in
        // `Code::new`, are owned by this value alone and are freed exactly once, here.
        unsafe {
            pcre2_match_context_free_8(self.ctx.as_ptr());
            pcre2_match_data_free_8(self.data.as_ptr());
            pcre2_code_free_8(self.code.as_ptr());
        }
    }
}

/// PCRE2's text for error `code`.
fn error_message(code: i32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, which is passed; PCRE2 writes
    // at most that many bytes (NUL included) and returns the message length or < 0.
    let n = unsafe { pcre2_get_error_message_8(code, buf.as_mut_ptr(), buf.len()) };
    match usize::try_from(n) {
        Ok(n) => String::from_utf8_lossy(buf.get(..n).unwrap_or(&buf)).into_owned(),
        Err(_) => format!("PCRE2 error {code}"),
    }
}

/// pcre2_pattern_info for an item whose value is a `u32`.
fn info_u32(code: NonNull<pcre2_code_8>, what: u32) -> u32 {
    let mut v: u32 = 0;
    // SAFETY: `code` is a live compiled pattern and every item asked for through this
    // function is documented as writing a uint32_t into the pointed-to variable.
    let rc = unsafe { pcre2_pattern_info_8(code.as_ptr(), what, ptr::addr_of_mut!(v).cast()) };
    if rc == 0 {
        v
    } else {
        0
    }
}

/// pcre2_pattern_info for an item whose value is a pointer.
fn info_ptr(code: NonNull<pcre2_code_8>, what: u32) -> *const u8 {
    let mut v: *const u8 = ptr::null();
    // SAFETY: `code` is a live compiled pattern; the items asked for through this function
    // (name table, first-code-unit bitmap) write one pointer into the pointed-to variable.
    let rc = unsafe { pcre2_pattern_info_8(code.as_ptr(), what, ptr::addr_of_mut!(v).cast()) };
    if rc == 0 {
        v
    } else {
        ptr::null()
    }
}

/// The name table: entries of `size` bytes, a big-endian group number then the name
/// and its NUL.
fn names(code: NonNull<pcre2_code_8>) -> Vec<(String, usize)> {
    let count = info_u32(code, PCRE2_INFO_NAMECOUNT) as usize;
    let size = info_u32(code, PCRE2_INFO_NAMEENTRYSIZE) as usize;
    let table = info_ptr(code, PCRE2_INFO_NAMETABLE);
    if count == 0 || size < 3 || table.is_null() {
        return Vec::new();
    }
    // SAFETY: PCRE2 documents the name table as `count` entries of `size` bytes each,
    // living as long as the compiled pattern, which outlives this borrow.
    let bytes = unsafe { std::slice::from_raw_parts(table, count * size) };
    bytes
        .chunks_exact(size)
        .map(|e| {
            let num = usize::from(e[0]) << 8 | usize::from(e[1]);
            let name = &e[2..];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            (String::from_utf8_lossy(&name[..end]).into_owned(), num)
        })
        .collect()
}

impl Code {
    /// Compiles `pattern` with PCRE2 `options`, JIT-compiled when `jit` (nginx:
    /// ngx_http_lua_ffi_compile_regex: pcre_compile, then pcre_study with
    /// PCRE_STUDY_JIT_COMPILE for the `j` option). A failed JIT compilation leaves the
    /// interpreter, as PCRE1 falls back.
    pub(super) fn new(pattern: &[u8], options: u32, jit: bool) -> Result<Code, CompileError> {
        let mut err: i32 = 0;
        let mut offset: usize = 0;
        // SAFETY: pattern pointer and length describe one live slice (PCRE2 never reads a
        // zero-length pattern's pointer past its length); the error outputs are valid
        // writable locals; a NULL compile context means the defaults.
        let code = unsafe {
            pcre2_compile_8(
                pattern.as_ptr(),
                pattern.len(),
                options,
                &mut err,
                &mut offset,
                ptr::null_mut(),
            )
        };
        let Some(code) = NonNull::new(code) else {
            return Err(CompileError {
                message: error_message(err),
                offset,
            });
        };
        // SAFETY: `code` is the live pattern just compiled; a NULL general context means
        // malloc/free.
        let data = NonNull::new(unsafe {
            pcre2_match_data_create_from_pattern_8(code.as_ptr(), ptr::null_mut())
        });
        // SAFETY: as above, NULL general context.
        let ctx = NonNull::new(unsafe { pcre2_match_context_create_8(ptr::null_mut()) });
        let (Some(data), Some(ctx)) = (data, ctx) else {
            // SAFETY: whichever of the two was allocated is freed once, then the pattern.
            unsafe {
                if let Some(d) = data {
                    pcre2_match_data_free_8(d.as_ptr());
                }
                if let Some(c) = ctx {
                    pcre2_match_context_free_8(c.as_ptr());
                }
                pcre2_code_free_8(code.as_ptr());
            }
            return Err(CompileError {
                message: "no memory".into(),
                offset: pattern.len(),
            });
        };
        // SAFETY: `code` is live and not yet shared; a failure (no JIT support, JIT
        // memory) leaves the pattern usable by the interpreter.
        let jitted = jit && unsafe { pcre2_jit_compile_8(code.as_ptr(), PCRE2_JIT_COMPLETE) } == 0;
        // PCRE1's pcre_study returns NULL (no extra block, so ngx_lua sets no match limit)
        // unless it found a minimum subject length > 0 or a set of starting bytes, or JIT
        // compiling was asked for. PCRE2 studies every pattern and reports the same two
        // findings; its starting bytes, like PCRE1's, are only looked for in patterns not
        // anchored and without a known first character.
        let anchored = info_u32(code, PCRE2_INFO_ALLOPTIONS) & PCRE2_ANCHORED != 0;
        let studied = jit
            || info_u32(code, PCRE2_INFO_MINLENGTH) > 0
            || (!anchored && !info_ptr(code, PCRE2_INFO_FIRSTBITMAP).is_null());
        Ok(Code {
            code,
            data,
            ctx,
            captures: info_u32(code, PCRE2_INFO_CAPTURECOUNT) as usize,
            names: names(code),
            studied,
            jitted,
        })
    }

    /// Number of capture groups (group 0 not counted).
    pub(super) fn captures(&self) -> usize {
        self.captures
    }

    /// The JIT compiled the pattern (nginx: pcre_fullinfo's PCRE_INFO_JIT).
    pub(super) fn jitted(&self) -> bool {
        self.jitted
    }

    /// Group names and their numbers.
    pub(super) fn names(&self) -> &[(String, usize)] {
        &self.names
    }

    /// Matches `subject` from byte `start` with PCRE's DFA algorithm (the `d` option): the
    /// longest match at the leftmost position, no groups; `out` gets group 0 only. No match
    /// limit, as PCRE1's pcre_dfa_exec uses none. `Err` carries PCRE2's negative code.
    pub(super) fn exec_dfa(
        &self,
        subject: &[u8],
        start: usize,
        out: &mut Vec<Option<(usize, usize)>>,
    ) -> Result<bool, i32> {
        // nginx: ngx_http_lua_ffi_exec_regex's workspace (NGX_LUA_RE_DFA_MODE_WORKSPACE_COUNT)
        let mut ws = [0i32; 100];
        static EMPTY: [u8; 1] = [0];
        let subj_ptr = if subject.is_empty() {
            EMPTY.as_ptr()
        } else {
            subject.as_ptr()
        };
        // SAFETY: as in `exec`; the workspace is a live local array whose length is passed.
        let rc = unsafe {
            pcre2_set_match_limit_8(self.ctx.as_ptr(), u32::MAX);
            pcre2_dfa_match_8(
                self.code.as_ptr(),
                subj_ptr,
                subject.len(),
                start,
                0,
                self.data.as_ptr(),
                self.ctx.as_ptr(),
                ws.as_mut_ptr(),
                ws.len(),
            )
        };
        if rc == PCRE2_ERROR_NOMATCH {
            return Ok(false);
        }
        if rc < 0 {
            return Err(rc);
        }
        // SAFETY: after a match the ovector's first pair holds the longest match (rc 0
        // only says more matches were found than pairs exist).
        let first = unsafe {
            let ov = pcre2_get_ovector_pointer_8(self.data.as_ptr());
            if ov.is_null() || pcre2_get_ovector_count_8(self.data.as_ptr()) == 0 {
                None
            } else {
                Some((*ov, *ov.add(1)))
            }
        };
        out.clear();
        out.push(first);
        Ok(true)
    }

    /// Matches `subject` from byte `start`; `limit` > 0 is `lua_regex_match_limit` (applied
    /// as lua-nginx-module does: only to studied patterns). On a match, `out` gets the
    /// offsets of group 0.. as (start, end) pairs, `None` for unset groups. `Err` carries
    /// PCRE2's negative return code.
    pub(super) fn exec(
        &self,
        subject: &[u8],
        start: usize,
        limit: u32,
        out: &mut Vec<Option<(usize, usize)>>,
    ) -> Result<bool, i32> {
        // nginx: ngx_http_lua_ffi_compile_regex sets PCRE_EXTRA_MATCH_LIMIT on the study
        // data; 0 here is PCRE2's own default (10000000, PCRE1's too).
        let limit = if limit > 0 && self.studied {
            limit
        } else {
            10_000_000
        };
        // A dangling pointer is never read for a zero length, but give PCRE2 a real one.
        static EMPTY: [u8; 1] = [0];
        let subj_ptr = if subject.is_empty() {
            EMPTY.as_ptr()
        } else {
            subject.as_ptr()
        };
        // SAFETY: the context is ours and live; setting a limit only stores a value.
        // pcre2_match reads `subject.len()` bytes from a live slice (or none from EMPTY),
        // and writes into this pattern's own match data, which nothing else uses during
        // the call (this type is !Sync, and no callout can re-enter Lua).
        let rc = unsafe {
            pcre2_set_match_limit_8(self.ctx.as_ptr(), limit);
            pcre2_match_8(
                self.code.as_ptr(),
                subj_ptr,
                subject.len(),
                start,
                0,
                self.data.as_ptr(),
                self.ctx.as_ptr(),
            )
        };
        if rc == PCRE2_ERROR_NOMATCH {
            return Ok(false);
        }
        if rc < 0 {
            return Err(rc);
        }
        // SAFETY: after a successful match the ovector holds `count` pairs of offsets; it
        // lives in the match data until the next match, and is copied out before that.
        let pairs = unsafe {
            let count = pcre2_get_ovector_count_8(self.data.as_ptr()) as usize;
            let ov = pcre2_get_ovector_pointer_8(self.data.as_ptr());
            if ov.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(ov.cast_const(), count * 2)
            }
        };
        out.clear();
        // rc is the highest set group + 1 (0 if the ovector was too small, which cannot
        // happen with match data sized from the pattern); later groups are unset.
        for (i, pair) in pairs.chunks_exact(2).take(self.captures + 1).enumerate() {
            let set = (rc == 0 || i < rc as usize) && pair[0] != usize::MAX;
            out.push(set.then_some((pair[0], pair[1])));
        }
        Ok(true)
    }
}
