//! Glue between the filter compiler and the packet sources: the same
//! classic BPF program runs in the kernel (live) and in-process (`-r`).

use anyhow::anyhow;
use wirewatch_filter::{compile, CompileOptions, Program};
use wirewatch_live::BpfInsn;
use wirewatch_wire::linktype;

fn compile_for(expr: &str, link_type: u32, snaplen: u32, live: bool) -> Result<Program, String> {
    compile(
        expr,
        &CompileOptions {
            link_type,
            snaplen,
            linux_vlan_extensions: live,
        },
    )
    .map_err(|e| {
        format!(
            "filter '{expr}' for link type {} ({link_type}): {e}",
            linktype::name(link_type)
        )
    })
}

/// The filter as a program for the kernel socket of one link type. The
/// program's accept value is the snap length, so the kernel copies only that
/// much into the ring.
pub fn kernel_program(
    expr: &str,
    link_type: u32,
    snaplen: u32,
) -> anyhow::Result<Option<Vec<BpfInsn>>> {
    let prog = compile_for(expr, link_type, snaplen, true).map_err(|e| anyhow!(e))?;
    Ok(Some(
        prog.insns()
            .iter()
            .map(|i| BpfInsn {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect(),
    ))
}

/// A filter for capture files: one compiled program per link type met.
pub struct FrameFilter {
    expr: String,
    programs: Vec<(u32, Program)>,
}

impl FrameFilter {
    /// A filter for `expr`, compiled now for `first_link_type` (the file's
    /// first announced link type, Ethernet when the file has not said yet)
    /// so that a bad expression fails before any frame is read. Other link
    /// types met later are compiled on first use.
    pub fn new(expr: &str, first_link_type: u32) -> Result<FrameFilter, String> {
        let p = compile_for(expr, first_link_type, u32::MAX, false)?;
        Ok(FrameFilter {
            expr: expr.to_string(),
            programs: vec![(first_link_type, p)],
        })
    }

    /// Whether the frame passes; an error when the expression does not
    /// compile for this link type.
    pub fn matches(&mut self, link_type: u32, data: &[u8], wire_len: u32) -> Result<bool, String> {
        let k = match self.programs.iter().position(|(lt, _)| *lt == link_type) {
            Some(k) => k,
            None => {
                let p = compile_for(&self.expr, link_type, u32::MAX, false)?;
                self.programs.push((link_type, p));
                self.programs.len() - 1
            }
        };
        Ok(self.programs[k].1.matches(data, wire_len))
    }
}
