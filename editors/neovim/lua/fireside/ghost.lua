-- Ghost text for Neovim 0.11, which has no inline completion UI of its own: ask the
-- server after a short pause in typing, cancel the previous request on every keystroke
-- and on InsertLeave, and draw the suggestion with extmarks (the first line as virt_text
-- at the cursor, the rest as virt_lines below), highlighted with FiresideGhost.
local config = require('fireside.config')

local M = {}
local ns = vim.api.nvim_create_namespace('fireside.ghost')
local state = {} -- bufnr -> { request = {client, id}, timer, item, row, col, items, index }

vim.api.nvim_set_hl(0, 'FiresideGhost', { link = 'Comment', default = true })

local function buf_state(bufnr)
  state[bufnr] = state[bufnr] or {}
  return state[bufnr]
end

local function cancel(bufnr)
  local s = buf_state(bufnr)
  if s.request then
    s.request.client:cancel_request(s.request.id)
    s.request = nil
  end
  if s.timer then
    s.timer:stop()
  end
end

function M.clear(bufnr)
  local s = buf_state(bufnr)
  s.items, s.index = nil, nil
  vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
end

--- The text a suggestion adds at the cursor (its insertText less the typed word it replaces).
local function added_text(item, col)
  local text = type(item.insertText) == 'table' and item.insertText.value or item.insertText or ''
  local typed = item.range and (col - item.range.start.character) or 0
  return text:sub(typed + 1)
end

local function draw(bufnr)
  vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
  local s = buf_state(bufnr)
  local item = s.items and s.items[s.index]
  if not item then return end
  local lines = vim.split(added_text(item, s.col), '\n', { plain = true })
  if lines[1] == '' and #lines == 1 then return end
  local virt_lines = {}
  for i = 2, #lines do virt_lines[#virt_lines + 1] = { { lines[i], 'FiresideGhost' } } end
  vim.api.nvim_buf_set_extmark(bufnr, ns, s.row, s.col, {
    virt_text = { { lines[1], 'FiresideGhost' } },
    virt_text_pos = 'inline',
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = 'combine',
  })
end

local function request(bufnr)
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = 'fireside' })[1]
  if not client or vim.api.nvim_get_current_buf() ~= bufnr then return end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = 2 } -- automatic
  local s = buf_state(bufnr)
  local ok, id = client:request('textDocument/inlineCompletion', params, function(err, result)
    s.request = nil
    if err or not result then return end
    local now_row, now_col = unpack(vim.api.nvim_win_get_cursor(0))
    if now_row ~= row or now_col ~= col then return end -- the user moved on
    s.items = result.items or result
    s.index, s.row, s.col = 1, row - 1, params.position.character
    draw(bufnr)
  end, bufnr)
  if ok then s.request = { client = client, id = id } end
end

--- A keystroke: forget the shown suggestion, cancel the request, ask again after a pause.
function M.changed(bufnr)
  cancel(bufnr)
  M.clear(bufnr)
  local s = buf_state(bufnr)
  s.timer = s.timer or vim.uv.new_timer()
  s.timer:start(config.options.inline.debounce_ms, 0, vim.schedule_wrap(function() request(bufnr) end))
end

function M.visible(bufnr)
  local s = buf_state(bufnr or vim.api.nvim_get_current_buf())
  return s.items ~= nil and s.items[s.index] ~= nil
end

--- Insert all of the suggestion, or its next word or line.
function M.accept(how, bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local s = buf_state(bufnr)
  local item = s.items and s.items[s.index]
  if not item then return false end
  local text = added_text(item, s.col)
  if how == 'word' then
    text = text:match('^%s*[%w_]+') or text:match('^%s*[^%w_%s]+') or text
  elseif how == 'line' then
    text = text:match('^[^\n]*\n?') or text
  end
  M.clear(bufnr)
  local lines = vim.split(text, '\n', { plain = true })
  vim.api.nvim_buf_set_text(bufnr, s.row, s.col, s.row, s.col, lines)
  local last_row = s.row + #lines - 1
  local last_col = (#lines == 1 and s.col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { last_row + 1, last_col })
  return true
end

--- Show the next (or previous) of the server's suggestions.
function M.cycle(step, bufnr)
  local s = buf_state(bufnr or vim.api.nvim_get_current_buf())
  if not s.items or #s.items == 0 then return end
  s.index = (s.index - 1 + step) % #s.items + 1
  draw(bufnr or vim.api.nvim_get_current_buf())
end

function M.attach(bufnr)
  local group = vim.api.nvim_create_augroup('fireside.ghost.' .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ 'TextChangedI', 'TextChangedP' }, { group = group, buffer = bufnr, callback = function() M.changed(bufnr) end })
  vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, { group = group, buffer = bufnr, callback = function() cancel(bufnr); M.clear(bufnr) end })
end

M.namespace = ns
return M
